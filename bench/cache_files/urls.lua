-- wrk script of bench/cache. Every request asks for one of URLS pages (/obj/1 .. /obj/URLS),
-- chosen uniformly at random, each wrk thread seeded apart. Every response is counted: HITs
-- and MISSes (X-Cache), the cache that served it (X-Cache-Server) and, when OWNERS names a
-- file of "PATH CACHE" lines (where each page went when requested alone), how many responses
-- came from another cache than that one. The path comes from the body, which the origin starts
-- with "page PATH". Environment: URLS (default 1600), OWNERS (optional).
local count = tonumber(os.getenv("URLS") or "1600")
local owners_file = os.getenv("OWNERS") or ""
local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("seed", #threads)
end

local owner = {}
-- globals, so that done() can read them from each thread (thread:get)
hits, misses, other, elsewhere, served = 0, 0, 0, 0, {}

function init(args)
  math.randomseed(os.time() * 1000 + (seed or 0))
  if owners_file ~= "" then
    for line in io.lines(owners_file) do
      local path, name = line:match("^(%S+) (%S+)$")
      if path then owner[path] = name end
    end
  end
end

function request()
  return wrk.format("GET", "/obj/" .. math.random(count))
end

function response(status, headers, body)
  local x = headers["X-Cache"]
  if x == "HIT" then hits = hits + 1 elseif x == "MISS" then misses = misses + 1 else other = other + 1 end
  local name = headers["X-Cache-Server"] or "-"
  served[name] = (served[name] or 0) + 1
  local path = body and body:match("^page (%S+)")
  if path and owner[path] and owner[path] ~= name then elsewhere = elsewhere + 1 end
end

function done(summary, latency, requests)
  local h, m, o, e, by = 0, 0, 0, 0, {}
  for _, t in ipairs(threads) do
    h = h + t:get("hits")
    m = m + t:get("misses")
    o = o + t:get("other")
    e = e + t:get("elsewhere")
    for k, v in pairs(t:get("served")) do by[k] = (by[k] or 0) + v end
  end
  local parts = {}
  for k, v in pairs(by) do table.insert(parts, k .. "=" .. v) end
  table.sort(parts)
  io.write(string.format("counted: hit %d miss %d other %d elsewhere %d served %s\n",
                         h, m, o, e, table.concat(parts, " ")))
end
