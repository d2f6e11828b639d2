--[[
  pause: pauses or resumes the queue. Active jobs finish; no new job
  starts while paused.
  Includes: common
  ARGV[1] prefix      the queue's key prefix
  ARGV[2] paused      "1" pause, "" resume
  ARGV[3] queue_name  listed in the registry (a queue paused before its first job)
  Returns: "ok"
  Emits: queue:paused, queue:resumed
  Writes: registry, meta, marker, events
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
