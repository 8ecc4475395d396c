-- bench/recycle: wrk writes each response that is not 2xx to stderr as "UNIXTIME STATUS BODY",
-- so that a failure can be found in portico's error log by its time. wrk's own summary (and
-- its "Non-2xx or 3xx responses" count) is unchanged.
response = function(status, headers, body)
  if status < 200 or status > 299 then
    io.stderr:write(string.format("%d %d %s\n", os.time(), status,
                                  ((body or ""):sub(1, 120):gsub("%s+", " "))))
  end
end
