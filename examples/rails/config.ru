# Rack entry point, read by puma (and by rackup).
require_relative "config/environment"

run Rails.application
