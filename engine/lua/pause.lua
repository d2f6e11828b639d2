--[[
  pause: pauses ("1") or resumes ("0") the queue. Active jobs finish; no
  new job starts while paused. Includes: common
  ARGV[2] "1" pause, "0" resume; ARGV[3] queue name (for the registry).
  Emits: queue:paused, queue:resumed.
]]
redis.call("SADD", registry_key, ARGV[3])
if ARGV[2] == "1" then
  redis.call("HSET", meta_key, "paused", "1")
  emit("queue:paused", false)
else
  redis.call("HDEL", meta_key, "paused")
  redis.call("ZADD", marker_key, 0, "1")
  emit("queue:resumed", false)
end
return "ok"
