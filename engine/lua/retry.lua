--[[
  retry: moves failed jobs back to waiting with a fresh set of attempts.
  The job's logs keep the earlier errors; `rtr` counts manual retries.
  Jobs that failed because this one failed (chains, flows) wait again.
  Includes: common, deps
  ARGV[2] job id, or "" to retry the oldest ARGV[3] failed jobs (a page)
  Returns the number of jobs retried; error "missing" / "not-failed:<state>"
  for a single id. Emits: job:retried.
]]
local function retry_one(id)
  local jk = job_key(id)
  redis.call("ZREM", failed_key, id)
  local err = redis.call("HGET", jk, "e")
  if err then append_log(id, "[retried] after: " .. err, 0) end
  redis.call("HDEL", jk, "e", "stk", "fin", "cx", "att", "stl", "tok")
  redis.call("HINCRBY", jk, "rtr", 1)
  if redis.call("HGET", jk, "dfail") then
    -- it never ran: its dependency failed; it waits for that one again
    redis.call("HDEL", jk, "dfail")
    redis.call("ZADD", pending_key, now_ms(), id)
  else
    enqueue_waiting(id, jk, false)
  end
  emit("job:retried", id)
  if redis.call("HGET", jk, "hd") then revive_dependents(prefix, id) end
end

local id = ARGV[2]
if id ~= "" then
  if not redis.call("ZSCORE", failed_key, id) then
    if redis.call("EXISTS", job_key(id)) == 0 then return redis.error_reply("missing") end
    return redis.error_reply("not-failed:" .. (state_of(id) or "unknown"))
  end
  retry_one(id)
  return 1
end
local ids = redis.call("ZRANGE", failed_key, 0, tonumber(ARGV[3]) - 1)
for i = 1, #ids do retry_one(ids[i]) end
return #ids
