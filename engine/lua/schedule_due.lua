--[[
  schedule_due: the schedules whose fire time has come, with their
  definitions, and Redis's time. Read only. Its own KEYS:
  KEYS[1] due zset (score = next fire ms), KEYS[2] definition key prefix
  ARGV[1] unused, ARGV[2] most schedules to return, ARGV[3] "" or a time
  in ms to use instead of Redis's clock (tests of calendar edge cases)
  Returns {now, next_due (-1: none), name, score, spec, version, count, ...}.
]]
local now = now_ms()
if ARGV[3] and ARGV[3] ~= "" then now = tonumber(ARGV[3]) end
local due = redis.call("ZRANGEBYSCORE", KEYS[1], "-inf", now, "WITHSCORES", "LIMIT", 0, tonumber(ARGV[2]))
local result = {now, -1}
for i = 1, #due, 2 do
  local fields = redis.call("HMGET", KEYS[2] .. due[i], "spec", "ver", "count")
  result[#result + 1] = due[i]
  result[#result + 1] = due[i + 1]
  result[#result + 1] = fields[1] or ""
  result[#result + 1] = fields[2] or ""
  result[#result + 1] = fields[3] or "0"
end
local head = redis.call("ZRANGE", KEYS[1], 0, 0, "WITHSCORES")
if head[2] then result[2] = tonumber(head[2]) end
return result
