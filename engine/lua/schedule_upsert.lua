--[[
  schedule_upsert: creates or replaces a schedule, or removes it. The new
  version makes any fire computed from the old definition a no-op, so a
  changed schedule never fires the old way too. Its own KEYS:
  KEYS[1] due zset, KEYS[2] the schedule's definition hash, KEYS[3] the set
  of schedule names
  ARGV[1] unused, ARGV[2] name, ARGV[3] spec JSON ("" removes),
  ARGV[4] first fire ms (-1: never), ARGV[5] version
  Returns "created", "updated" or "removed" (or "missing").
]]
local name = ARGV[2]
if ARGV[3] == "" then
  local existed = redis.call("DEL", KEYS[2])
  redis.call("ZREM", KEYS[1], name)
  redis.call("SREM", KEYS[3], name)
  if existed == 1 then return "removed" end
  return "missing"
end
local now = now_ms()
local existed = redis.call("EXISTS", KEYS[2])
redis.call("HSET", KEYS[2], "spec", ARGV[3], "ver", ARGV[5], "updated", now)
redis.call("HDEL", KEYS[2], "ended")
if existed == 0 then redis.call("HSET", KEYS[2], "created", now, "count", 0) end
redis.call("SADD", KEYS[3], name)
if tonumber(ARGV[4]) >= 0 then
  redis.call("ZADD", KEYS[1], ARGV[4], name)
else
  redis.call("ZREM", KEYS[1], name)
end
if existed == 1 then return "updated" end
return "created"
