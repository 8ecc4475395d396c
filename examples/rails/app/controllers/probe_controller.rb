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

  # GET /page: an HTML page whose links are built by route helpers, so they carry the mount
  # prefix (SCRIPT_NAME) the app runs under: a path (probe_env_path) and a URL (probe_env_url).
  def page
    links = [helpers.link_to("env", probe_env_path, id: "env-path"),
             helpers.link_to("env", probe_env_url, id: "env-url"),
             helpers.link_to("stream", probe_stream_path, id: "stream-path")]
    render html: helpers.safe_join(["<!DOCTYPE html>\n<html><body>\n".html_safe,
                                    helpers.safe_join(links, "\n"),
                                    "\n</body></html>\n".html_safe])
  end

  # GET /stream?n=N&gap=S: N lines (default 5, at most 20) made S seconds apart (default 0.5,
  # at most 2), each handed to the server as soon as it is made and saying when it was made
  # ("2 of 5 at 1700000000.123456"), so a client can tell a streamed answer from a buffered
  # one. The body is an Enumerator: the server writes each line as the enumerator yields it.
  def stream
    n = params.fetch(:n, 5).to_i.clamp(1, 20)
    gap = params.fetch(:gap, 0.5).to_f.clamp(0.0, 2.0)
    # Rack::ETag digests a body (reading all of it first) unless the response has an ETag or a
    # Last-Modified; with one it passes the body through as it comes.
    response.headers["Last-Modified"] = Time.now.httpdate
    response.headers["Cache-Control"] = "no-cache"
    self.content_type = "text/plain"
    self.response_body = Enumerator.new do |out|
      n.times do |i|
        sleep gap if i.positive?
        out << format("%d of %d at %.6f\n", i + 1, n, Time.now.to_f)
      end
    end
  end

  # GET /slow?s=N: answers after sleeping N seconds (default 1, at most 10).
  def slow
    s = params.fetch(:s, 1).to_f.clamp(0.0, 10.0)
    sleep s
    render plain: format("slept %g\n", s)
  end
end
