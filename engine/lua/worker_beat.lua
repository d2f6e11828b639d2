--[[
  worker_beat: records a worker's heartbeat in the worker registry, or
  removes the worker when it stops. Uses its own KEYS, not the queue's.
  Includes: common
  KEYS[1] workers  the worker registry, a zset (score = last heartbeat ms)
  KEYS[2] worker   this worker's hash
  ARGV[1] prefix   unused (the keys are the script's own)
  ARGV[2] gone     "1": the worker stops (remove it), "": a heartbeat
  ARGV[3] ttl_s    the worker hash expires after this without a beat
  ARGV[4] worker   id of the worker
  ARGV[5] details  number of field/value pairs that follow
  ARGV[+] details * (field, value)
  Returns: Redis's time in ms
  Emits: nothing
  Writes: workers, worker
]]
local now = now_ms()
local registry, worker_hash = KEYS[1], KEYS[2]
local id = ARGV[4]
if ARGV[2] == "1" then
  redis.call("ZREM", registry, id)
  redis.call("DEL", worker_hash)
  return now
end
redis.call("ZADD", registry, now, id)
local fields = {"beat", now}
local at = 6
for _ = 1, tonumber(ARGV[5]) do
  fields[#fields + 1] = ARGV[at]
  fields[#fields + 1] = ARGV[at + 1]
  at = at + 2
end
redis.call("HSET", worker_hash, unpack(fields))
redis.call("EXPIRE", worker_hash, tonumber(ARGV[3]))
-- forget workers silent for a day: their hashes have expired long ago
redis.call("ZREMRANGEBYSCORE", registry, "-inf", now - 86400000)
return now
