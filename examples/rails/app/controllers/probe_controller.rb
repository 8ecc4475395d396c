require "digest"

# Reports what the application sees of each request, so the gateway in front of it can be
# checked from the outside.
class ProbeController < ApplicationController
  # The form endpoint is posted to by scripts without a session, so it has no CSRF token.
  skip_forgery_protection only: :form

  ENV_KEYS = %w[REQUEST_METHOD SCRIPT_NAME PATH_INFO QUERY_STRING REQUEST_URI HTTP_HOST
                HTTP_X_FORWARDED_FOR HTTP_X_FORWARDED_PROTO HTTP_X_FORWARDED_HOST
                SERVER_NAME SERVER_PORT CONTENT_LENGTH].freeze

  # GET /
  def index
    render plain: "SCRIPT_NAME=#{request.script_name}\n" \
                  "PATH_INFO=#{request.path_info}\n" \
                  "QUERY_STRING=#{request.query_string}\n" \
                  "Host=#{request.host_with_port}\n"
  end

  # GET /env
  def env_dump
    seen = ENV_KEYS.to_h { |k| [k, request.env[k]] }
    render json: { env: seen, url: request.url, remote_ip: request.remote_ip,
                   protocol: request.protocol, host: request.host, port: request.port }
  end

  # POST /form (urlencoded or multipart)
  def form
    files = {}
    fields = {}
    request.request_parameters.each do |name, value|
      if value.respond_to?(:read)
        data = value.read
        files[name] = { filename: value.original_filename, size: data.bytesize,
                        sha256: Digest::SHA256.hexdigest(data) }
      else
        fields[name] = value
      end
    end
    render json: { params: fields, files: files, query: request.query_parameters,
                   content_length: request.content_length, media_type: request.media_type }
  end

  # GET /download?name=FILE: a file from $DOWNLOAD_DIR, sent by the gateway (X-Sendfile).
  def download
    dir = ENV["DOWNLOAD_DIR"]
    name = File.basename(params.fetch(:name, "sample.bin").to_s)
    path = dir && File.join(dir, name)
    return head :not_found unless path && File.file?(path)

    send_file path, type: "application/octet-stream", disposition: "attachment"
  end

  # GET /go: an absolute redirect built from the request (scheme, Host, port). A path given
  # as a string is taken as it is: Rails does not put SCRIPT_NAME in front of it.
  def go
    redirect_to "/env"
  end

  # GET /go-route: the same through the route helper, which does include SCRIPT_NAME.
  def go_route
    redirect_to probe_env_url
  end
end
