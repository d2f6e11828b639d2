--[[
  schedule_fire: fires one tick of a schedule, exactly once across any
  number of scheduler instances: a compare-and-set on the schedule's next
  fire time and definition version, and the job id
  "schedule:<name>:<fire ms>" that cannot be added twice.
  On a Redis Cluster the queue is in another slot: the caller adds that job
  first (the add script, the same id) and calls this with the schedule's
  two keys only, which then does the compare-and-set and the bookkeeping.
  Includes: common, add_job
  KEYS[*] queue       the target queue's keys, as common lists them
  KEYS[+] due         zset of schedule names, score = next fire ms
  KEYS[+] definition  the schedule's definition hash
  ARGV[1] prefix           the target queue's key prefix
  ARGV[2] queue_name       for the registry
  ARGV[3] schedule         the schedule's name
  ARGV[4] expected_due_ms  the fire time the scheduler read
  ARGV[5] version          the definition version the scheduler read
  ARGV[6] fire_ms          the tick fired
  ARGV[7] following_ms     the next fire time (-1: the schedule has ended)
  ARGV[8] job_name
  ARGV[9] data             JSON
  ARGV[10] options         JSON ("" when default)
  ARGV[11] priority
  ARGV[12] lifo            "1" or ""
  ARGV[13] delay_ms
  ARGV[14] fire            "" moves the schedule on without firing (missed
                           ticks skipped)
  Returns: {1, job id, created} when this call fired (or {1, "", 0} moved
  on); {0} when another instance did or the schedule changed
  Emits: job:added, job:duplicated (on the target queue)
  Writes: due, definition, seq, job, waiting, waiting:list, delayed, events, marker, registry
]]
local due_key, definition_key = KEYS[#KEYS - 1], KEYS[#KEYS]
local queue_name, schedule, expected_due_ms, version = ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5]
local fire_ms, following_ms = ARGV[6], tonumber(ARGV[7])
local current = redis.call("ZSCORE", due_key, schedule)
if not current or tonumber(current) ~= expected_due_ms
    or redis.call("HGET", definition_key, "ver") ~= version then
  return {0}
end
local now = now_ms()
if ARGV[14] ~= "1" then
  if following_ms >= 0 then redis.call("ZADD", due_key, following_ms, schedule) end
  return {1, "", 0}
end
local id, created = "schedule:" .. schedule .. ":" .. fire_ms, 0
if #KEYS > 2 then
  id, created = add_job(now, now_micros(), id, ARGV[8], ARGV[9],
    ARGV[10], tonumber(ARGV[11]), ARGV[12] == "1", tonumber(ARGV[13]))
  redis.call("SADD", registry_key, queue_name)
  if created == 1 then redis.call("ZADD", marker_key, 0, "1") end
end
if following_ms >= 0 then
  redis.call("ZADD", due_key, following_ms, schedule)
else
  redis.call("ZREM", due_key, schedule)
  redis.call("HSET", definition_key, "ended", now)
end
redis.call("HINCRBY", definition_key, "count", 1)
redis.call("HSET", definition_key, "last", fire_ms, "last_job", id)
return {1, id, created}
