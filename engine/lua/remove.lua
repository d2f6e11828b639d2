--[[
  remove: deletes a job that is not running; jobs waiting for it fail
  (unless they ignore its failure). A waiting job of the default priority
  is found in the waiting list: O(n) in the list's length.
  Includes: common, deps
  ARGV[1] prefix  the queue's key prefix
  ARGV[2] job_id
  Returns: the state it was removed from ("orphan": a hash in no state);
  error "missing" or "active"
  Emits: job:removed, job:failed, job:waiting
  Writes: dedup, waiting, waiting:list, delayed, completed, failed, pending, seq, job, logs, deps, results, events, marker, keep
  Flags: allow-oom (runs on a full server: it frees memory)
]]
local id = ARGV[2]
local state = state_of(id)
if not state then
  if redis.call("EXISTS", job_key(id)) == 0 then return redis.error_reply("missing") end
  delete_job(id)
  return "orphan"
end
if state == "active" then return redis.error_reply("active") end
leave_state(state, id)
if (state == "waiting" or state == "delayed" or state == "pending") and not check_keys(job_key(id)) then
  local fields = redis.call("HMGET", job_key(id), JF.HAS_DEPENDENTS, JF.DEDUP)
  if fields[1] then release_dependents(now_ms(), prefix, id, nil, "removed before it ran") end
  release_dedup(id, fields[2])
end
delete_job(id)
emit("job:removed", id, "state", state)
return state
