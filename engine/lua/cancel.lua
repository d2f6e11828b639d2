--[[
  cancel: waiting, delayed or pending jobs are removed at once; an active
  job is flagged and its worker told (PUBLISH on ARGV[3]); it then ends as
  cancelled. Jobs waiting for a removed one fail (unless they ignore its
  failure). Includes: common, deps
  A waiting job of the default priority is found in the waiting list:
  O(n) in the list's length.
  ARGV[2] job id, ARGV[3] cancel channel
  Returns "removed", "requested", or an error: "missing", "finished".
  Emits: job:cancelled (removed at once) or job:cancel-requested.
]]
local id = ARGV[2]
local state = state_of(id)
if not state then
  if redis.call("EXISTS", job_key(id)) == 0 then return redis.error_reply("missing") end
  return redis.error_reply("finished")
end
if state == "completed" or state == "failed" then return redis.error_reply("finished") end
if state == "active" then
  redis.call("HSET", job_key(id), "cx", "1")
  redis.call("PUBLISH", ARGV[3], id)
  emit("job:cancel-requested", id)
  return "requested"
end
leave_state(state, id)
if redis.call("HGET", job_key(id), "hd") then
  release_dependents(now_ms(), prefix, id, nil, "cancelled before it ran")
end
delete_job(id)
emit("job:cancelled", id, "state", state)
return "removed"
