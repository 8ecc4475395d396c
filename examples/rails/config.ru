# Rack entry point, read by puma (and by rackup, uWSGI's rack plugin).
require_relative "config/environment"

# RAILS_RELATIVE_URL_ROOT=/shop (Rails' own setting, config.relative_url_root) serves the app
# under that prefix: Rack::URLMap takes it off PATH_INFO and puts it in SCRIPT_NAME, which the
# route helpers put back into the URLs and redirects they build. This is for a server that
# gets the whole path (puma over HTTP has no SCRIPT_NAME to pass); a FastCGI or SCGI gateway
# gives SCRIPT_NAME itself (portico's proxy-core.script-name) and the app runs at the root.
prefix = Rails.application.config.relative_url_root.to_s.chomp("/")
if prefix.empty?
  run Rails.application
else
  map(prefix) { run Rails.application }
end
