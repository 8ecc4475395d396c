# A one-line Rack app for the spawn tests (test_spawn.py): portico starts puma on it with the
# socket passed by systemd socket activation (pass-socket "listen-fds").
run lambda { |env|
  body = "hello from puma pid=#{Process.pid} fdnames=#{ENV['LISTEN_FDNAMES']} path=#{env['PATH_INFO']}\n"
  [200, { "Content-Type" => "text/plain", "Content-Length" => body.bytesize.to_s }, [body]]
}
