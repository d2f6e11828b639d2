--[[
  worker_beat: records a worker's heartbeat in the worker registry, or
  removes the worker when it stops. Uses its own KEYS, not the queue's:
  KEYS[1] worker registry zset (score = last heartbeat ms)
  KEYS[2] worker hash
  ARGV[1] unused (prefix), ARGV[2] "beat" or "gone", ARGV[3] hash TTL s,
  ARGV[4] worker id, then field/value pairs describing the worker
  Returns Redis's time in ms.
]]
local now = now_ms()
local registry, worker_hash = KEYS[1], KEYS[2]
local id = ARGV[4]
if ARGV[2] == "gone" then
  redis.call("ZREM", registry, id)
  redis.call("DEL", worker_hash)
  return now
end
redis.call("ZADD", registry, now, id)
local fields = {"beat", now}
for i = 5, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call("HSET", worker_hash, unpack(fields))
redis.call("EXPIRE", worker_hash, tonumber(ARGV[3]))
-- forget workers silent for a day: their hashes have expired long ago
redis.call("ZREMRANGEBYSCORE", registry, "-inf", now - 86400000)
return now
