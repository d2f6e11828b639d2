--[[
  schedule_upsert: creates or replaces a schedule, or removes it. The new
  version makes any fire computed from the old definition a no-op, so a
  changed schedule never fires the old way too.
  KEYS[1] due         zset of schedule names, score = next fire ms
  KEYS[2] definition  the schedule's definition hash
  KEYS[3] names       set of every schedule name
  ARGV[1] prefix         the deployment's key prefix (unused)
  ARGV[2] name
  ARGV[3] spec           the definition, JSON; "" removes the schedule
  ARGV[4] first_fire_ms  -1: it never fires
  ARGV[5] version        new for every definition
  Returns: "created", "updated", "removed" or "missing" (nothing to remove)
  Emits: nothing
  Writes: due, definition, names
]]
local due_key, definition_key, names_key = KEYS[1], KEYS[2], KEYS[3]
local name, spec, first_fire_ms, version = ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5]
if spec == "" then
  local existed = redis.call("DEL", definition_key)
  redis.call("ZREM", due_key, name)
  redis.call("SREM", names_key, name)
  if existed == 1 then return "removed" end
  return "missing"
end
local now = now_ms()
local existed = redis.call("EXISTS", definition_key)
redis.call("HSET", definition_key, "spec", spec, "ver", version, "updated", now)
redis.call("HDEL", definition_key, "ended")
if existed == 0 then redis.call("HSET", definition_key, "created", now, "count", 0) end
redis.call("SADD", names_key, name)
if first_fire_ms >= 0 then
  redis.call("ZADD", due_key, first_fire_ms, name)
else
  redis.call("ZREM", due_key, name)
end
if existed == 1 then return "updated" end
return "created"
