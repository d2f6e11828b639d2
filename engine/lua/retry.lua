--[[
  retry: moves failed jobs back to waiting with a fresh set of attempts.
  The job's logs keep the earlier errors; JF.MANUAL_RETRIES counts manual
  retries. Jobs that failed because this one failed (chains, flows) wait
  again.
  Includes: common, deps
  ARGV[1] prefix  the queue's key prefix
  ARGV[2] job_id  "" retries the oldest `page` failed jobs
  ARGV[3] page    how many, when job_id is ""
  Returns: the number of jobs retried; error "missing" or
  "not-failed:<state>" or "corrupt:<error>" (it stays failed) for a single id
  Emits: job:retried, job:pending, job:failed
  Writes: failed, pending, waiting, waiting:list, seq, marker, job, logs, events, keep, deps, results, outbox
]]
-- A job whose keys are corrupt (check_keys) stays failed, with the error
-- and the newest score (a page of retries does not meet it again), or goes
-- as its remove_on_fail says: false and the error.
local function retry_one(id)
  local jk = job_key(id)
  local problem = check_keys(jk)
  if problem then
    redis.call("ZREM", failed_key, id)
    return false, fail_corrupt(id, problem, now_ms())
  end
  redis.call("ZREM", failed_key, id)
  local err = redis.call("HGET", jk, JF.ERROR)
  if err then append_log(id, "[retried] after: " .. err, 0) end
  redis.call("HDEL", jk, JF.ERROR, JF.STACK, JF.FINISHED, JF.CANCELLED, JF.ATTEMPTS, JF.STALLS,
    JF.TOKEN)
  redis.call("HINCRBY", jk, JF.MANUAL_RETRIES, 1)
  if redis.call("HGET", jk, JF.DEPENDENCY_FAILED) then
    -- it never ran: its dependency failed; it waits for that one again
    redis.call("HDEL", jk, JF.DEPENDENCY_FAILED)
    redis.call("ZADD", pending_key, now_ms(), id)
  else
    enqueue_waiting(id, jk, false)
  end
  emit("job:retried", id)
  if redis.call("HGET", jk, JF.HAS_DEPENDENTS) then revive_dependents(prefix, id) end
  return true
end

local id, page = ARGV[2], tonumber(ARGV[3])
if id ~= "" then
  if not redis.call("ZSCORE", failed_key, id) then
    if redis.call("EXISTS", job_key(id)) == 0 then return redis.error_reply("missing") end
    return redis.error_reply("not-failed:" .. (state_of(id) or "unknown"))
  end
  local retried, problem = retry_one(id)
  if not retried then return redis.error_reply("corrupt:" .. problem) end
  return 1
end
local ids = redis.call("ZRANGE", failed_key, 0, page - 1)
local retried = 0
for i = 1, #ids do
  if retry_one(ids[i]) then retried = retried + 1 end
end
return retried
