--[[
  schedule_fire: fires one tick of a schedule, exactly once across any
  number of scheduler instances: a compare-and-set on the schedule's next
  fire time and definition version, and the job id
  "schedule:<name>:<fire ms>" that cannot be added twice.
  Includes: common, add_job
  KEYS: the target queue's keys (see common), then the due zset and the
  schedule's definition hash (the last two)
  ARGV[2] queue name, ARGV[3] schedule name, ARGV[4] expected next fire ms,
  ARGV[5] expected definition version, ARGV[6] fire ms (the tick fired),
  ARGV[7] following fire ms (-1: the schedule has ended), ARGV[8] job name,
  ARGV[9] data JSON, ARGV[10] opts JSON, ARGV[11] priority, ARGV[12] lifo,
  ARGV[13] delay ms, ARGV[14] "0" to move the schedule on without firing
  (missed ticks skipped)
  Returns {1, job id, created} when this call fired (or moved on), {0} when
  another instance did or the schedule changed.
  Emits: job:added on the target queue.
]]
local due_key, def_key = KEYS[#KEYS - 1], KEYS[#KEYS]
local name = ARGV[3]
local current = redis.call("ZSCORE", due_key, name)
if not current or tonumber(current) ~= tonumber(ARGV[4]) or redis.call("HGET", def_key, "ver") ~= ARGV[5] then
  return {0}
end
local now = now_ms()
if ARGV[14] == "0" then
  if tonumber(ARGV[7]) >= 0 then redis.call("ZADD", due_key, ARGV[7], name) end
  return {1, "", 0}
end
local id, created = add_job(now, now_stamp(), "schedule:" .. name .. ":" .. ARGV[6], ARGV[8], ARGV[9], ARGV[10],
  tonumber(ARGV[11]), ARGV[12] == "1", tonumber(ARGV[13]))
redis.call("SADD", registry_key, ARGV[2])
if created == 1 then redis.call("ZADD", marker_key, 0, "1") end
if tonumber(ARGV[7]) >= 0 then
  redis.call("ZADD", due_key, ARGV[7], name)
else
  redis.call("ZREM", due_key, name)
  redis.call("HSET", def_key, "ended", now)
end
redis.call("HINCRBY", def_key, "count", 1)
redis.call("HSET", def_key, "last", ARGV[6], "last_job", id)
return {1, id, created}
