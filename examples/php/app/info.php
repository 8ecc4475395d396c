<?php
// A plain script: its own URL (/info.php), not the front controller.
header('Content-Type: text/plain');
echo 'plain script ', $_SERVER['SCRIPT_NAME'], ' pid ', getmypid(), ' via ',
     PHP_SAPI, "\n";
