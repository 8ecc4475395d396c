# The smallest Rails application that boots from Debian's packages alone: no Bundler, no
# database, no asset pipeline, only the frameworks a controller needs.
require "rails"
require "action_controller/railtie"
require "securerandom"

module PorticoExample
  class Application < Rails::Application
    config.load_defaults 6.1
    config.root = File.expand_path("..", __dir__)

    # Production-style settings by default, so start-up stays quick and quiet.
    config.eager_load = false
    config.cache_classes = true
    config.consider_all_requests_local = false
    config.cache_store = :null_store
    config.logger = ActiveSupport::Logger.new($stdout)
    config.log_level = ENV.fetch("RAILS_LOG_LEVEL", "warn").to_sym

    # No sessions are stored, but Rails signs cookies with this key and refuses to run in
    # production without one; a random key per process is enough for the example.
    config.secret_key_base = ENV["SECRET_KEY_BASE"] || SecureRandom.hex(64)

    # Requests come through portico, which names the public Host; do not filter it here.
    config.hosts.clear

    # send_file answers with an empty body and this header; portico then sends the file
    # itself (proxy-core.allow-x-sendfile), so no file bytes go through Ruby.
    config.action_dispatch.x_sendfile_header = "X-Sendfile"
    # Rack::Head sits inside Rack::Sendfile by default and empties a HEAD response's body
    # first, so Rack::Sendfile never sees the file and HEAD goes out without X-Sendfile (and
    # without a Content-Length). Inside Rack::Head it marks HEAD responses too. (Files from
    # public/, served by ActionDispatch::Static, are outside it then; this app has none.)
    config.middleware.move_after Rack::Head, Rack::Sendfile
  end
end
