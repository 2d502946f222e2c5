-- wrk script for the feature server benchmark: POST /get-online-features with BENCH_BATCH random
-- entity ids out of BENCH_ENTITIES per request, features BENCH_FEATURES (a JSON list). Counts
-- non-200 answers (wrk reports them too, as "Non-2xx or 3xx responses").
local n = tonumber(os.getenv("BENCH_ENTITIES") or "1000000")
local batch = tonumber(os.getenv("BENCH_BATCH") or "1")
local features = os.getenv("BENCH_FEATURES") or "[]"
local counter = 0

setup = function(thread)
  counter = counter + 1
  thread:set("seed", counter)
end

init = function(args)
  math.randomseed(seed or 1)
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end

request = function()
  local ids = {}
  for i = 1, batch do ids[i] = math.random(1, n) end
  local body = '{"features":' .. features .. ',"entities":{"driver_id":[' .. table.concat(ids, ",") .. ']}}'
  return wrk.format(nil, "/get-online-features", nil, body)
end
