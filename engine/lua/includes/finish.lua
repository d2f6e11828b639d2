--[[
  finish_job(now, worker, id, token, kind, value, stack, runtime_ms, delay_ms,
             keep_count, keep_age_ms, keep_logs)

  Ends one run of a leased job. kind:
    "c" completed (value = result JSON)
    "f" failed for good (value = error message, stack)
    "r" failed, retry after delay_ms (value = error message, stack)
    "x" cancelled while active
    "h" handed back at shutdown: waiting again, no attempt spent
    "l" rate limited by the processor: delayed by delay_ms, no attempt spent
  Fencing: the job must be active and still carry `token`; otherwise nothing
  changes and "lost" is returned.
  Emits: job:completed, job:failed, job:retrying, job:cancelled, job:waiting.
]]
local function finish_job(now, worker, id, token, kind, value, stack, runtime_ms, delay_ms,
                          keep_count, keep_age_ms, keep_logs)
  local jk = job_key(id)
  if redis.call("HGET", jk, "tok") ~= token or not redis.call("ZSCORE", active_key, id) then
    return "lost"
  end
  redis.call("ZREM", active_key, id)
  redis.call("HDEL", jk, "tok")
  if kind == "h" then
    enqueue_waiting(id, jk, true)
    emit("job:waiting", id, "reason", "shutdown")
    return "ok"
  end
  if kind == "l" then
    redis.call("ZADD", delayed_key, now + delay_ms, id)
    redis.call("ZADD", marker_key, 0, "1")
    emit("job:delayed", id, "reason", "rate-limited", "delay", delay_ms)
    return "ok"
  end
  local attempt = redis.call("HINCRBY", jk, "att", 1)
  if kind == "c" then
    redis.call("HSET", jk, "r", value, "fin", now, "rt", runtime_ms)
    redis.call("HDEL", jk, "e", "stk", "cx")
    add_metric(now, "c", 1)
    add_metric(now, "t", runtime_ms)
    emit("job:completed", id, "att", attempt, "rt", runtime_ms)
    if keep_count == 0 then
      delete_job(id)
    else
      redis.call("ZADD", completed_key, now, id)
      trim_finished(completed_key, now, keep_count, keep_age_ms, TRIM_LIMIT)
    end
    return "ok"
  end
  local label = "failed"
  if kind == "x" then label = "cancelled" end
  append_log(id, "[attempt " .. attempt .. "] " .. label .. ": " .. value, keep_logs)
  redis.call("HSET", jk, "e", value, "stk", stack, "rt", runtime_ms)
  if kind == "r" then
    if delay_ms > 0 then
      redis.call("ZADD", delayed_key, now + delay_ms, id)
      redis.call("ZADD", marker_key, 0, "1")
    else
      enqueue_waiting(id, jk, false)
    end
    emit("job:retrying", id, "att", attempt, "delay", delay_ms, "err", value)
    return "ok"
  end
  redis.call("HSET", jk, "fin", now)
  add_metric(now, "f", 1)
  add_metric(now, "t", runtime_ms)
  if kind == "x" then
    redis.call("HSET", jk, "cx", "1")
    emit("job:cancelled", id, "att", attempt)
  else
    emit("job:failed", id, "att", attempt, "err", value)
  end
  if keep_count == 0 then
    delete_job(id)
  else
    redis.call("ZADD", failed_key, now, id)
    trim_finished(failed_key, now, keep_count, keep_age_ms, TRIM_LIMIT)
  end
  return "ok"
end
