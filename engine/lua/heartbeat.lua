--[[
  heartbeat: extends the leases a worker holds, in one call per queue.
  Includes: common
  ARGV[2] lease ms, ARGV[3] number of jobs, then pairs: id, token
  Returns {lost ids..., "|", cancel-requested ids...}: lost jobs are no
  longer this worker's (their lease expired and was taken); cancelled ones
  were asked to stop by an operator.
]]
local now = now_ms()
local deadline = now + tonumber(ARGV[2])
local lost, cancel = {}, {}
for i = 0, tonumber(ARGV[3]) - 1 do
  local id, token = ARGV[4 + i * 2], ARGV[5 + i * 2]
  local fields = redis.call("HMGET", job_key(id), "tok", "cx")
  if fields[1] == token and redis.call("ZSCORE", active_key, id) then
    redis.call("ZADD", active_key, "XX", deadline, id)
    if fields[2] then cancel[#cancel + 1] = id end
  else
    lost[#lost + 1] = id
  end
end
local result = lost
result[#result + 1] = "|"
for i = 1, #cancel do result[#result + 1] = cancel[i] end
return result
