--[[
  promote: moves a delayed job to waiting now.
  Includes: common
  ARGV[1] prefix  the queue's key prefix
  ARGV[2] job_id
  Returns: "ok"; error "missing" or "not-delayed:<state>", or
    "corrupt:<error>" (the job was moved to failed)
  Emits: job:waiting, job:failed
  Writes: delayed, waiting, waiting:list, failed, seq, marker, events, job, keep, logs, deps, results
]]
local id = ARGV[2]
if redis.call("ZREM", delayed_key, id) == 0 then
  if redis.call("EXISTS", job_key(id)) == 0 then return redis.error_reply("missing") end
  return redis.error_reply("not-delayed:" .. (state_of(id) or "unknown"))
end
local problem = check_job(job_key(id))
if problem then
  fail_corrupt(id, problem, now_ms())
  return redis.error_reply("corrupt:corrupt job: " .. problem)
end
enqueue_waiting(id, job_key(id), false)
emit("job:waiting", id, "reason", "promoted")
return "ok"
