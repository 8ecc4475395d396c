<?php
// The front controller: every path that names no script of its own runs this file, the path
// in PATH_INFO (portico.conf). A handful of routes show what PHP apps do behind portico.
$path = $_SERVER['PATH_INFO'] ?? '/';
$files = getenv('FILES_DIR') ?: '/tmp/portico-php-files';

function text($s)
{
    header('Content-Type: text/plain');
    echo $s, "\n";
}

if ($path === '/') {
    text('front controller: SCRIPT_NAME=' . $_SERVER['SCRIPT_NAME'] . ' PATH_INFO=' . $path);
} elseif (preg_match('#^/hello/([A-Za-z0-9_-]+)$#', $path, $m)) {
    text('hello ' . $m[1]);
} elseif ($path === '/go') {
    // (PHP answers 302 for a Location with no status; SCRIPT_NAME is where the app is mounted)
    header('Location: ' . $_SERVER['SCRIPT_NAME'] . '/hello/again');
} elseif ($path === '/visits') {
    ini_set('session.save_path', sys_get_temp_dir());
    session_start();  // the PHPSESSID cookie
    $_SESSION['n'] = ($_SESSION['n'] ?? 0) + 1;
    text('visits ' . $_SESSION['n']);
} elseif ($path === '/upload' && $_SERVER['REQUEST_METHOD'] === 'POST') {
    header('Content-Type: application/json');
    $out = [];
    foreach ($_FILES as $field => $f) {
        $out[$field] = ['name' => $f['name'], 'size' => $f['size'], 'error' => $f['error'],
                        'sha256' => $f['error'] === 0 ? hash_file('sha256', $f['tmp_name']) : null];
    }
    echo json_encode(['fields' => $_POST, 'files' => $out]), "\n";
} elseif ($path === '/download') {
    // portico sends the file (Content-Length, ETag, ranges) and drops the header; PHP never
    // reads it. Only files under proxy-core.x-sendfile-docroot are sent.
    $name = basename($_GET['name'] ?? 'sample.bin');
    header('Content-Type: application/octet-stream');
    header('Content-Disposition: attachment; filename="' . $name . '"');
    header('X-Sendfile: ' . $files . '/' . $name);
} else {
    header('Status: 404 Not Found');
    text('no page at ' . $path);
}
