--[[
  heartbeat: extends the leases a worker holds, in one call per queue.
  Includes: common
  ARGV[1] prefix    the queue's key prefix
  ARGV[2] lease_ms  the leases' new length from now
  ARGV[3] leases    number of leases that follow
  ARGV[+] leases * (job_id, token)
  Returns: {lost ids..., "|", cancel-requested ids...}: lost jobs are no
    longer this worker's (their lease expired and was taken); cancelled ones
    were asked to stop by an operator
  Emits: nothing
  Writes: active
  Flags: allow-oom (it only rescores members already in active, so a full
    server still lets a worker keep the leases of the jobs it runs)
]]
local now = now_ms()
local deadline = now + tonumber(ARGV[2])
local lost, cancel = {}, {}
local at = 4
for _ = 1, tonumber(ARGV[3]) do
  local id, token = ARGV[at], ARGV[at + 1]
  -- pcall: a key of another type (a corrupt job) is lost to this worker
  local fields = redis.pcall("HMGET", job_key(id), JF.TOKEN, JF.CANCELLED)
  if fields[1] == token and redis.call("ZSCORE", active_key, id) then
    redis.call("ZADD", active_key, "XX", deadline, id)
    if fields[2] then cancel[#cancel + 1] = id end
  else
    lost[#lost + 1] = id
  end
  at = at + 2
end
local result = lost
result[#result + 1] = "|"
for i = 1, #cancel do result[#result + 1] = cancel[i] end
return result
