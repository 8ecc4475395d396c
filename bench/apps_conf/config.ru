# The Rack app of bench/apps: a few bytes of text, the counterpart of index.php.
run lambda { |_env| [200, { "content-type" => "text/plain" }, ["rack-ok\n"]] }
