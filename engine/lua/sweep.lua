--[[
  sweep: the maintenance any worker may run; throttled by a key that holds
  the time of the last sweep: a caller sweeps when its own interval has
  passed since then, so a worker with a long interval (or a dead one that
  swept last) never delays the sweeps of one with a short interval.
  Re-queues active jobs whose lease expired (their holder is gone) and fails
  those that stalled more than the limit; a prefetched job that its worker
  had not said it started (rsv = 1) goes back to the front without counting
  a stall, marked released (rsv = r): its next lease is isolated (fetch).
  A job failed by the stall limit follows its remove_on_fail. Trims
  finished jobs (includes/retention.lua): those with a rule of their own by
  it, the others by the caller's, at most STALL_LIMIT entries of each kind.
  Includes: common, retention, deps
  ARGV[1] prefix                 the queue's key prefix
  ARGV[2] interval_ms            the caller's interval: it sweeps if none ran within it
  ARGV[3] max_stalled            stalls a job may have before it fails
  ARGV[4] completed_keep_count   -1: all
  ARGV[5] completed_keep_age_ms  -1: any age
  ARGV[6] failed_keep_count
  ARGV[7] failed_keep_age_ms
  ARGV[8] force                  "1" sweeps whenever the last sweep ran
  Returns: {swept (0 when a sweep ran within the caller's interval), requeued, failed, trimmed}
  Emits: job:stalled, job:failed, job:waiting, job:delayed
  Writes: sweep, dedup, active, waiting, waiting:list, failed, completed, pending, marker, events, job, logs, results, deps, metrics, seq, keep, delayed, outbox
]]
local STALL_LIMIT = 1000
local now = now_ms()
local interval = tonumber(ARGV[2])
if ARGV[8] ~= "1" then
  local last = tonumber(redis.call("GET", sweep_key))
  if last and now - last < interval then
    return {0, 0, 0, 0}
  end
end
-- expires after the caller's interval: a key left by a worker with a long
-- interval holds back nobody longer than their own interval
redis.call("SET", sweep_key, now, "PX", interval)
local max_stalled = tonumber(ARGV[3])
local expired = redis.call("ZRANGEBYSCORE", active_key, "-inf", now - 1, "LIMIT", 0, STALL_LIMIT)
local requeued, failed = 0, 0
expired, failed = sound_jobs(expired, now, "active") -- the others fail (corrupt)
for i = 1, #expired do
  local id = expired[i]
  local jk = job_key(id)
  redis.call("ZREM", active_key, id)
  redis.call("HDEL", jk, JF.TOKEN)
  local fields = redis.call("HMGET", jk, JF.NAME, JF.RESERVED, JF.DEDUP)
  if fields[1] and fields[2] == "1" then
    redis.call("HSET", jk, JF.RESERVED, "r")
    enqueue_waiting(id, jk, true)
    emit("job:waiting", id, "reason", "released")
    requeued = requeued + 1
  elseif fields[1] then
    local stalls = redis.call("HINCRBY", jk, JF.STALLS, 1)
    if stalls > max_stalled then
      local message = "job stalled " .. stalls .. " times (its worker died or stopped responding); limit is " .. max_stalled
      local attempt = redis.call("HINCRBY", jk, JF.ATTEMPTS, 1)
      redis.call("HSET", jk, JF.ERROR, message, JF.STACK, "", JF.FINISHED, now)
      append_log(id, "[attempt " .. attempt .. "] failed: " .. message, 0)
      release_dedup(id, fields[3])
      add_metric(now, "f", 1)
      emit("job:failed", id, "att", attempt, "err", message)
      if redis.call("HGET", jk, JF.HAS_DEPENDENTS) then release_dependents(now, prefix, id, nil, message) end
      if file_finished(prefix, "failed", failed_key, id, now, own_rule_of(jk, "failed")) then delete_job(id) end
      failed = failed + 1
    else
      enqueue_waiting(id, jk, true)
      emit("job:stalled", id, "stalls", stalls)
      requeued = requeued + 1
    end
  end
end
-- a job failed at the stall limit freed a slot of a capped queue
if failed > 0 then wake_for_free_slot() end
local trimmed = trim_finished("completed", now, ARGV[4] .. ":" .. ARGV[5], STALL_LIMIT)
trimmed = trimmed + trim_finished("failed", now, ARGV[6] .. ":" .. ARGV[7], STALL_LIMIT)
return {1, requeued, failed, trimmed}
