--[[
  schedule_due: the schedules whose fire time has come, with their
  definitions, and Redis's time. Read only.
  KEYS[1] due          zset of schedule names, score = next fire ms
  KEYS[2] definitions  the key prefix of the definition hashes (+ name)
  ARGV[1] prefix  the deployment's key prefix (unused)
  ARGV[2] limit   most schedules to return
  ARGV[3] at_ms   "" or a time in ms to use instead of Redis's clock (tests
                  of calendar edge cases)
  Returns: {now, next_due (-1: none), then per due schedule: name, score,
  spec JSON ("" when removed), version, count}
  Emits: nothing
  Writes: nothing
  Flags: no-writes (runs on a full server and on a read-only replica)
]]
local due_key, definitions = KEYS[1], KEYS[2]
local limit, at_ms = tonumber(ARGV[2]), ARGV[3]
local now = now_ms()
if at_ms ~= "" then now = tonumber(at_ms) end
local due = redis.call("ZRANGEBYSCORE", due_key, "-inf", now, "WITHSCORES", "LIMIT", 0, limit)
local result = {now, -1}
for i = 1, #due, 2 do
  local fields = redis.call("HMGET", definitions .. due[i], "spec", "ver", "count")
  result[#result + 1] = due[i]
  result[#result + 1] = due[i + 1]
  result[#result + 1] = fields[1] or ""
  result[#result + 1] = fields[2] or ""
  result[#result + 1] = fields[3] or "0"
end
local head = redis.call("ZRANGE", due_key, 0, 0, "WITHSCORES")
if head[2] then result[2] = tonumber(head[2]) end
return result
