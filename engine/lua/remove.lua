--[[
  remove: deletes a job that is not running. Includes: common
  ARGV[2] job id
  Returns the state it was removed from; errors "missing" or "active".
  Emits: job:removed.
]]
local id = ARGV[2]
local state = state_of(id)
if not state then
  if redis.call("EXISTS", job_key(id)) == 0 then return redis.error_reply("missing") end
  delete_job(id)
  return "orphan"
end
if state == "active" then return redis.error_reply("active") end
redis.call("ZREM", STATE_KEYS[state], id)
delete_job(id)
emit("job:removed", id, "state", state)
return state
