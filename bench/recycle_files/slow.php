<?php
// bench/recycle: a request that takes ?ms= milliseconds (default 2000), for request-timeout
usleep((int)($_GET['ms'] ?? 2000) * 1000);
header('Content-Type: text/plain');
echo 'slow ', getmypid(), "\n";
