--[[
  remove: deletes a job that is not running, with the jobs it waits for
  that have not run, however deep and in whichever queue (a flow's
  descendants, a chain's earlier steps); finished ones stay. Refused while
  one of those runs. Jobs waiting for the removed job fail (unless they
  ignore its failure). A waiting job of the default priority is found in
  the waiting list: O(n) in the list's length.
  Includes: common, deps
  ARGV[1] prefix  the queue's key prefix
  ARGV[2] job_id
  Returns: {state it was removed from ("orphan": a hash in no state),
  descendants removed with it, then on a Redis Cluster the "<queue>|<id>"
  of descendants in other queues, for the caller to remove there}; error "missing", "active", or
  "descendant-active:<queue>:<id>" (nothing changed)
  Emits: job:removed, job:failed, job:waiting, job:delayed
  Writes: dedup, waiting, waiting:list, delayed, completed, failed, pending, seq, job, logs, deps, results, events, marker, keep, outbox
  Flags: allow-oom (runs on a full server: it frees memory)
]]
local id = ARGV[2]
local state = state_of(id)
if not state then
  if redis.call("EXISTS", job_key(id)) == 0 then return redis.error_reply("missing") end
  delete_job(id)
  return {"orphan", 0}
end
if state == "active" then return redis.error_reply("active") end
local sound = not check_keys(job_key(id))
local descendants, elsewhere = {}, {}
if sound then
  local found, running, others = unrun_descendants(prefix, id)
  if not found then return redis.error_reply("descendant-active:" .. running) end
  descendants, elsewhere = found, others
end
leave_state(state, id)
if sound and (state == "waiting" or state == "delayed" or state == "pending") then
  release_deleted(id, "removed before it ran")
  release_dedup(id, redis.call("HGET", job_key(id), JF.DEDUP))
end
delete_descendants(descendants, queue_of(prefix) .. ":" .. id)
delete_job(id)
emit("job:removed", id, "state", state, "descendants", #descendants)
local result = {state, #descendants}
for i = 1, #elsewhere do result[#result + 1] = elsewhere[i] end
return result
