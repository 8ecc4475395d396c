# One of the three caches of examples/cache: Varnish in front of the slow origin (origin.py).
# Every answer says whether it came from the cache (X-Cache: HIT or MISS) and which instance
# served it (X-Cache-Server: the name given to varnishd with -i). GET /varnish-ping is answered
# by Varnish itself, without the origin: portico's health check.
vcl 4.1;

backend origin {
    .host = "127.0.0.1";
    .port = "8081";
}

sub vcl_recv {
    if (req.url == "/varnish-ping") {
        return (synth(200, "pong"));
    }
}

sub vcl_deliver {
    if (obj.hits > 0) {
        set resp.http.X-Cache = "HIT";
    } else {
        set resp.http.X-Cache = "MISS";
    }
    set resp.http.X-Cache-Server = server.identity;
}

sub vcl_synth {
    set resp.http.X-Cache-Server = server.identity;
    if (req.url == "/varnish-ping") {
        set resp.http.Content-Type = "text/plain";
        set resp.body = "pong " + server.identity + {"
"};
        return (deliver);
    }
}
