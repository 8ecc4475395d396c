# The Rack app of bench/recycle's puma row: a few bytes and the pid of the process that
# answered, so that a rolling restart can be seen in the responses too.
run lambda { |env|
  body = "puma #{Process.pid}\n"
  [200, { "Content-Type" => "text/plain", "Content-Length" => body.bytesize.to_s }, [body]]
}
