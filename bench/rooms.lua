-- GET /rooms/{id} of a new room on every request, for wrk: every read misses the cache and
-- reads KV (tests/bench_e2e.rs sets TIW_ROOM, the first id).
local room = tonumber(os.getenv("TIW_ROOM") or "0")
local n = 0

request = function()
  n = n + 1
  return wrk.format("GET", "/rooms/" .. (room + n))
end
