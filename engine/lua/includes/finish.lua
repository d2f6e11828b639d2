--[[
  finish_job(batch, now, id, token, kind, value, stack, runtime_ms, delay_ms,
             keep, keep_logs, attempt, has_dependents)

  Ends one run of a leased job. kind (OUTCOME, mirroring OutcomeKind in
  engine/contracts/worker.py; a test holds the two equal):
    COMPLETED     value = result JSON
    FAILED        failed for good (value = error message, stack)
    RETRY         failed, retry after delay_ms (value = error message, stack)
    CANCELLED     cancelled while active
    HANDED_BACK   at shutdown, or a prefetched job held too long (value = the
                  reason, "" for shutdown): waiting again, no attempt spent
    RATE_LIMITED  by the processor: delayed by delay_ms, no attempt spent
  `attempt` is the number of this run (the worker read the attempts made when
  it leased the job, and nobody else changes them while the lease holds).
  `keep` is the job's own retention in the set it ends in ("<count>:<age_ms>",
  "" for none: the worker's applies, includes/retention.lua). Work common to
  a batch (adding to the finished sets, metrics, the trims of the sets it
  added to) is collected in `batch` and done once by finish_batch, whose
  `keep_completed` and `keep_failed` are the worker's rules.
  Fencing: the job must be active and still carry `token`; otherwise nothing
  changes and "lost" is returned. A finished job keeps its last token: it is
  no longer in `active`, so the token cannot be used again.
  A job that others wait for (`has_dependents`) releases them when it
  completes or fails for good (includes/deps.lua); so does a job's dedup id
  (release_dedup in common).
  Emits: job:completed, job:failed, job:retrying, job:cancelled, job:waiting,
  job:delayed.
]]
local OUTCOME = {
  COMPLETED = "c",
  FAILED = "f",
  RETRY = "r",
  CANCELLED = "x",
  HANDED_BACK = "h",
  RATE_LIMITED = "l",
}

local function new_batch()
  return {completed = {}, failed = {}, done = 0, failed_count = 0, run_time = 0}
end

-- A finished job goes into its set with the batch, or is deleted at once
-- when its own rule keeps none; `set` is "completed" or "failed".
local function record_finished(batch, set, id, now, keep)
  local rule = nil
  if keep ~= "" then rule = keep end
  if file_finished(prefix, set, STATE_KEYS[set], id, now, rule, batch[set]) then delete_job(id) end
end

local function finish_job(batch, now, id, token, kind, value, stack, runtime_ms, delay_ms,
                          keep, keep_logs, attempt, has_dependents)
  local jk = job_key(id)
  local problem = check_job(jk)
  if problem then
    if redis.call("ZREM", active_key, id) == 1 then fail_corrupt(id, problem, now) end
    return "lost"
  end
  local held = redis.call("HMGET", jk, JF.TOKEN, JF.DEDUP)
  if held[1] ~= token or redis.call("ZREM", active_key, id) == 0 then
    return "lost"
  end
  if kind == OUTCOME.COMPLETED then
    release_dedup(id, held[2])
    redis.call("HSET", jk, JF.ATTEMPTS, attempt, JF.RESULT, value, JF.FINISHED, now, JF.RUN_TIME, runtime_ms)
    if attempt > 1 then redis.call("HDEL", jk, JF.ERROR, JF.STACK) end
    emit("job:completed", id, "att", attempt, "rt", runtime_ms)
    if has_dependents then release_dependents(now, prefix, id, value, nil) end
    batch.done = batch.done + 1
    batch.run_time = batch.run_time + runtime_ms
    record_finished(batch, "completed", id, now, keep)
    return "ok"
  end
  if kind == OUTCOME.HANDED_BACK then
    redis.call("HDEL", jk, JF.TOKEN)
    enqueue_waiting(id, jk, true)
    if value == "" then value = "shutdown" end
    emit("job:waiting", id, "reason", value)
    return "ok"
  end
  if kind == OUTCOME.RATE_LIMITED then
    redis.call("HDEL", jk, JF.TOKEN)
    redis.call("ZADD", delayed_key, now + delay_ms, id)
    redis.call("ZADD", marker_key, 0, "1")
    emit("job:delayed", id, "reason", "rate-limited", "delay", delay_ms)
    return "ok"
  end
  local label = "failed"
  if kind == OUTCOME.CANCELLED then label = "cancelled" end
  append_log(id, "[attempt " .. attempt .. "] " .. label .. ": " .. value, keep_logs)
  redis.call("HSET", jk, JF.ATTEMPTS, attempt, JF.ERROR, value, JF.STACK, stack, JF.RUN_TIME, runtime_ms)
  if kind == OUTCOME.RETRY then
    redis.call("HDEL", jk, JF.TOKEN)
    if delay_ms > 0 then
      redis.call("ZADD", delayed_key, now + delay_ms, id)
      redis.call("ZADD", marker_key, 0, "1")
    else
      enqueue_waiting(id, jk, false)
    end
    emit("job:retrying", id, "att", attempt, "delay", delay_ms, "err", value)
    return "ok"
  end
  redis.call("HSET", jk, JF.FINISHED, now)
  release_dedup(id, held[2])
  batch.failed_count = batch.failed_count + 1
  batch.run_time = batch.run_time + runtime_ms
  if kind == OUTCOME.CANCELLED then
    redis.call("HSET", jk, JF.CANCELLED, "1")
    emit("job:cancelled", id, "att", attempt)
  else
    emit("job:failed", id, "att", attempt, "err", value)
  end
  if has_dependents then release_dependents(now, prefix, id, nil, value) end
  record_finished(batch, "failed", id, now, keep)
  return "ok"
end

local function finish_batch(batch, now, keep_completed, keep_failed)
  if #batch.completed > 0 then
    redis.call("ZADD", completed_key, unpack(batch.completed))
    trim_finished("completed", now, keep_completed, TRIM_LIMIT)
  end
  if #batch.failed > 0 then
    redis.call("ZADD", failed_key, unpack(batch.failed))
    trim_finished("failed", now, keep_failed, TRIM_LIMIT)
  end
  if batch.done > 0 then add_metric(now, "c", batch.done) end
  if batch.failed_count > 0 then add_metric(now, "f", batch.failed_count) end
  if batch.done + batch.failed_count > 0 then add_metric(now, "t", batch.run_time) end
end
