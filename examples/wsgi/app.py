"""A plain WSGI application (PEP 3333, standard library only) that reports what it was given.

It runs unchanged under gunicorn (`gunicorn --chdir examples/wsgi app:application`) and under
uWSGI's python3 plugin (`--wsgi-file examples/wsgi/app.py`), behind portico over HTTP, FastCGI
or SCGI. Routes (under whatever SCRIPT_NAME the server gives):

  GET  /                  text: SCRIPT_NAME, PATH_INFO, QUERY_STRING, Host
  GET  /env               JSON: the environ keys a gateway sets, the process id
  POST /form              JSON: the fields, and per uploaded file its name, size, SHA-256
                          (application/x-www-form-urlencoded or multipart/form-data)
  GET  /download?name=F   an empty body and `X-Sendfile: $DOWNLOAD_DIR/F`: the gateway sends
                          the file (default name sample.bin)
  GET  /go                302 to an absolute URL of /env built from the request
  GET  /stream?n=N        N pieces of text, each sent as it is made, 0.3 s apart (pause=S);
                          gate=NAME holds the last piece until $DOWNLOAD_DIR/NAME exists
  GET  /slow?s=N          sleeps N seconds (at most 20: a gunicorn sync worker busy for 30 s
                          is killed), then answers
"""

import hashlib
import json
import os
import time
import urllib.parse
from email.parser import BytesHeaderParser

DOWNLOAD_DIR = os.environ.get("DOWNLOAD_DIR", "/tmp/portico-wsgi-files")

ENV_KEYS = ("REQUEST_METHOD", "SCRIPT_NAME", "PATH_INFO", "QUERY_STRING", "REQUEST_URI",
            "SERVER_NAME", "SERVER_PORT", "SERVER_PROTOCOL", "HTTP_HOST",
            "HTTP_X_FORWARDED_FOR", "HTTP_X_FORWARDED_PROTO", "HTTP_X_FORWARDED_HOST",
            "REMOTE_ADDR", "CONTENT_LENGTH", "CONTENT_TYPE", "SERVER_SOFTWARE",
            "wsgi.url_scheme")


def reply(start_response, status, body, ctype="text/plain; charset=utf-8", headers=()):
    if isinstance(body, str):
        body = body.encode("utf-8")
    start_response(status, [("Content-Type", ctype), ("Content-Length", str(len(body)))]
                   + list(headers))
    return [body]


def as_json(start_response, obj, status="200 OK"):
    return reply(start_response, status, json.dumps(obj, sort_keys=True) + "\n",
                 "application/json")


def host_of(environ):
    """The host (and port, if not the scheme's default) the client asked for (PEP 3333)."""
    if environ.get("HTTP_HOST"):
        return environ["HTTP_HOST"]
    host, port = environ["SERVER_NAME"], environ["SERVER_PORT"]
    default = "443" if environ["wsgi.url_scheme"] == "https" else "80"
    return host if port == default else host + ":" + port


def read_body(environ):
    """The whole request body: CONTENT_LENGTH bytes, or up to the end when there is none."""
    stream = environ["wsgi.input"]
    length = environ.get("CONTENT_LENGTH") or ""
    if length.isdigit():
        want = int(length)
        pieces = []
        while want > 0:
            piece = stream.read(min(want, 1 << 16))
            if not piece:
                break
            pieces.append(piece)
            want -= len(piece)
        return b"".join(pieces)
    return stream.read()


def file_info(filename, data):
    return {"filename": filename, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def parse_multipart(body, boundary):
    """(fields, files) of a multipart/form-data body; each part's headers are read with the
    email package, its content is the bytes between the blank line and the next delimiter."""
    fields, files = {}, {}
    delimiter = b"\r\n--" + boundary
    data = b"\r\n" + body
    pos = data.find(delimiter)
    while pos >= 0:
        start = pos + len(delimiter)
        if data[start:start + 2] == b"--":
            break
        head_start = data.find(b"\r\n", start) + 2
        head_end = data.find(b"\r\n\r\n", head_start - 2)
        end = data.find(delimiter, head_end)
        if head_start < 2 or head_end < 0 or end < 0:
            raise ValueError("malformed multipart body")
        head = BytesHeaderParser().parsebytes(data[head_start:head_end + 4])
        content = data[head_end + 4:end]
        name = head.get_param("name", header="content-disposition")
        filename = head.get_param("filename", header="content-disposition")
        if filename is not None:
            files[name] = file_info(filename, content)
        else:
            fields[name] = content.decode("utf-8", "replace")
        pos = end
    return fields, files


def form(environ, start_response):
    if environ["REQUEST_METHOD"] != "POST":
        return reply(start_response, "405 Method Not Allowed", "POST only\n",
                     headers=[("Allow", "POST")])
    body = read_body(environ)
    ctype = environ.get("CONTENT_TYPE", "")
    fields, files = {}, {}
    if ctype.startswith("multipart/form-data"):
        head = BytesHeaderParser().parsebytes(b"Content-Type: " + ctype.encode("latin-1")
                                              + b"\r\n\r\n")
        boundary = head.get_param("boundary")
        if not boundary:
            return reply(start_response, "400 Bad Request", "no multipart boundary\n")
        try:
            fields, files = parse_multipart(body, boundary.encode("latin-1"))
        except ValueError as e:
            return reply(start_response, "400 Bad Request", "%s\n" % e)
    elif ctype.startswith("application/x-www-form-urlencoded"):
        fields = dict(urllib.parse.parse_qsl(body.decode("utf-8", "replace"),
                                             keep_blank_values=True))
    return as_json(start_response, {
        "fields": fields,
        "files": files,
        "query": dict(urllib.parse.parse_qsl(environ.get("QUERY_STRING", ""))),
        "content_length": environ.get("CONTENT_LENGTH") or None,
        "body_size": len(body),
        "body_sha256": hashlib.sha256(body).hexdigest(),
    })


def download(environ, start_response, query):
    name = query.get("name", "sample.bin")
    path = os.path.join(DOWNLOAD_DIR, name)
    if "/" in name or "\0" in name or name.startswith(".") or not os.path.isfile(path):
        return reply(start_response, "404 Not Found", "no such file\n")
    # The gateway sends the file and drops this header; the app writes no body at all.
    start_response("200 OK", [("Content-Type", "application/octet-stream"),
                              ("Content-Disposition", 'attachment; filename="%s"' % name),
                              ("X-Sendfile", path)])
    return []


def number(query, key, default, top):
    """query[key] as a number from 0 to top (default when absent); ValueError when it is not."""
    value = float(query.get(key, default))
    if not 0 <= value <= top:
        raise ValueError("%s must be from 0 to %g" % (key, top))
    return value


def stream(n, pause, gate):
    for i in range(n):
        if i:
            time.sleep(pause)
        if gate and i == n - 1:
            deadline = time.monotonic() + 60
            path = os.path.join(DOWNLOAD_DIR, os.path.basename(gate))
            while not os.path.exists(path) and time.monotonic() < deadline:
                time.sleep(0.05)
        yield ("piece %d of %d\n" % (i + 1, n)).encode()


def application(environ, start_response):
    path = environ.get("PATH_INFO", "") or "/"
    script = environ.get("SCRIPT_NAME", "")
    query = dict(urllib.parse.parse_qsl(environ.get("QUERY_STRING", "")))
    if path == "/":
        return reply(start_response, "200 OK",
                     "SCRIPT_NAME=%s\nPATH_INFO=%s\nQUERY_STRING=%s\nHost=%s\n"
                     % (script, environ.get("PATH_INFO", ""), environ.get("QUERY_STRING", ""),
                        environ.get("HTTP_HOST", "")))
    if path == "/env":
        env = {k: environ.get(k) for k in ENV_KEYS}
        return as_json(start_response, {"env": env, "pid": os.getpid()})
    if path == "/form":
        return form(environ, start_response)
    if path == "/download":
        return download(environ, start_response, query)
    if path == "/go":
        url = "%s://%s%s/env" % (environ["wsgi.url_scheme"], host_of(environ),
                                 urllib.parse.quote(script))
        return reply(start_response, "302 Found", "see %s\n" % url, headers=[("Location", url)])
    try:
        if path == "/stream":
            n, pause = int(number(query, "n", 5, 100)), number(query, "pause", 0.3, 5)
            start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8")])
            return stream(n, pause, query.get("gate"))
        if path == "/slow":
            seconds = number(query, "s", 1, 20)
            time.sleep(seconds)
            return reply(start_response, "200 OK", "slept %g\n" % seconds)
    except ValueError as e:
        return reply(start_response, "400 Bad Request", "%s\n" % e)
    return reply(start_response, "404 Not Found", "no route for %s\n" % path)
