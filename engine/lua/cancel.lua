--[[
  cancel: waiting, delayed or pending jobs are removed at once; an active
  job is flagged and its worker told (PUBLISH on the cancel channel); it
  then ends as cancelled. Jobs waiting for a removed one fail (unless they
  ignore its failure). A waiting job of the default priority is found in
  the waiting list: O(n) in the list's length.
  Includes: common, deps
  ARGV[1] prefix          the queue's key prefix
  ARGV[2] job_id
  ARGV[3] cancel_channel  where workers listen for cancellations
  Returns: "removed" or "requested"; error "missing" (no such job) or
  "finished" (it completed or failed already), "corrupt:<error>" (an active
  job whose keys are corrupt: its worker fails it)
  Emits: job:cancelled, job:cancel-requested, job:failed, job:waiting, job:delayed
  Writes: dedup, waiting, waiting:list, delayed, pending, failed, seq, job, logs, deps, results, events, marker, keep, outbox
]]
local id, cancel_channel = ARGV[2], ARGV[3]
local state = state_of(id)
if not state then
  if redis.call("EXISTS", job_key(id)) == 0 then return redis.error_reply("missing") end
  return redis.error_reply("finished")
end
if state == "completed" or state == "failed" then return redis.error_reply("finished") end
if state == "active" then
  local problem = check_keys(job_key(id))
  if problem then return redis.error_reply("corrupt:corrupt job: " .. problem) end
  redis.call("HSET", job_key(id), JF.CANCELLED, "1")
  redis.call("PUBLISH", cancel_channel, id)
  emit("job:cancel-requested", id)
  return "requested"
end
leave_state(state, id)
if not check_keys(job_key(id)) then
  local fields = redis.call("HMGET", job_key(id), JF.HAS_DEPENDENTS, JF.DEDUP)
  if fields[1] then release_dependents(now_ms(), prefix, id, nil, "cancelled before it ran") end
  release_dedup(id, fields[2])
end
delete_job(id)
emit("job:cancelled", id, "state", state)
return "removed"
