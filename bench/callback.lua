-- POST /callback bodies for wrk (tests/bench_e2e.rs sets the environment). TIW's Sign is
-- md5(key + ExpireTime) and does not cover the body, so one precomputed Sign serves every body.
--   TIW_MODE=applied: a new task per request, in one of 100 rooms from TIW_ROOM, each starting
--                     later than the last, so every one is applied;
--   TIW_MODE=fixed:   TIW_BODY as it is, every time (duplicate, stale, bad signature).
local mode = os.getenv("TIW_MODE") or "fixed"
local app = os.getenv("TIW_APP")
local room = tonumber(os.getenv("TIW_ROOM") or "0")
local expire = os.getenv("TIW_EXPIRE")
local sign = os.getenv("TIW_SIGN")
local start = tonumber(os.getenv("TIW_START") or "0")
local fixed = os.getenv("TIW_BODY")
local n = 0

wrk.method = "POST"
wrk.headers["content-type"] = "application/json"

request = function()
  local body = fixed
  if mode == "applied" then
    n = n + 1
    body = string.format(
      '{"EventType":"WhiteboardPushStarted","SdkAppId":%s,"Timestamp":%d,"ExpireTime":%s,'
        .. '"Sign":"%s","EventData":{"TaskId":"bench-%d","RoomId":%d,'
        .. '"PushUserId":"tic_push_user_bench","PushStartTime":%d}}',
      app, start + n, expire, sign, n, room + (n % 100), start + n)
  end
  return wrk.format(nil, "/callback", nil, body)
end
