<?php
// bench/recycle: the fast request that wrk sends (a few bytes and the pid that answered)
header('Content-Type: text/plain');
echo 'php ', getmypid(), "\n";
