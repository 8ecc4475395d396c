"""Run the integration test modules given on the command line, one line per test, and a
final "N passed, N failed" line. Exit status 1 when any test failed. Skips are counted
apart: a skipped test is neither passed nor failed."""

import importlib.util
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True


def progress_stream():
    """Where a one-line verdict per test also goes while the suite runs: the descriptor named
    by PORTICO_PROGRESS_FD (./quickstart check passes one through make, whose test harness
    keeps the rest in the log file), else nowhere."""
    fd = os.environ.get("PORTICO_PROGRESS_FD")
    if not fd:
        return None
    try:
        return os.fdopen(int(fd), "w", buffering=1, closefd=False)
    except (OSError, ValueError):
        return None


PROGRESS = progress_stream()


def progress(line):
    if PROGRESS is None:
        return
    try:
        PROGRESS.write("  " + line + "\n")
    except OSError:
        pass


class LineResult(unittest.TestResult):
    def __init__(self):
        super().__init__()
        self.passed = 0
        self.failed_ids = []
        self.skipped_n = 0
        self._t0 = 0.0
        self._status = None
        self._detail = ""

    def startTest(self, test):
        super().startTest(test)
        self._t0 = time.monotonic()
        self._status = "PASS"
        self._detail = ""

    def _fail(self, test, err, kind):
        self._status = kind
        self._detail += self._exc_info_to_string(err, test)

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self._fail(test, err, "FAIL")

    def addError(self, test, err):
        super().addError(test, err)
        self._fail(test, err, "FAIL")

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        if self._status == "PASS":
            self._status = "SKIP"
            self._detail = reason

    def addSubTest(self, test, subtest, err):
        super().addSubTest(test, subtest, err)
        if err is not None:
            self._fail(subtest, err, "FAIL")

    def addExpectedFailure(self, test, err):
        super().addExpectedFailure(test, err)

    def addUnexpectedSuccess(self, test):
        super().addUnexpectedSuccess(test)
        self._status = "FAIL"
        self._detail = "unexpected success"

    def stopTest(self, test):
        super().stopTest(test)
        dt = time.monotonic() - self._t0
        name = test.id()
        if self._status == "PASS":
            self.passed += 1
            print("PASS: %s (%.1fs)" % (name, dt), flush=True)
            progress("PASS: %s (%.1fs)" % (name, dt))
        elif self._status == "SKIP":
            self.skipped_n += 1
            print("SKIP: %s (%s)" % (name, self._detail), flush=True)
            progress("SKIP: %s" % name)
        else:
            self.failed_ids.append(name)
            print("FAIL: %s (%.1fs)" % (name, dt), flush=True)
            progress("FAIL: %s (%.1fs)" % (name, dt))
            print(self._detail.rstrip(), flush=True)
            for d in getattr(test, "diag", []):
                print(d.rstrip(), flush=True)


def load(path):
    name = os.path.splitext(os.path.basename(path))[0]
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return unittest.defaultTestLoader.loadTestsFromModule(mod)


def main(argv):
    suite = unittest.TestSuite()
    broken = 0
    for path in argv:
        try:
            suite.addTests(load(path))
        except Exception as e:  # a module that does not import is a failure, not a skip
            print("FAIL: %s does not load: %s" % (path, e), flush=True)
            broken += 1
    # optional filter on test ids: substrings, comma-separated (a test with any of them runs)
    want = [w for w in os.environ.get("PORTICO_TESTS", "").split(",") if w]
    if want:
        def flat(s):
            for t in s:
                if isinstance(t, unittest.TestSuite):
                    yield from flat(t)
                else:
                    yield t
        suite = unittest.TestSuite(t for t in flat(suite) if any(w in t.id() for w in want))
    result = LineResult()
    t0 = time.monotonic()
    suite.run(result)
    failed = len(result.failed_ids) + broken
    print("%d passed, %d failed, %d skipped (%.0fs)"
          % (result.passed, failed, result.skipped_n, time.monotonic() - t0), flush=True)
    for name in result.failed_ids:
        print("failed: %s" % name)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
