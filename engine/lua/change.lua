--[[
  change: changes a job that has not started (waiting or delayed): its
  priority, its delay or its data. Everything is checked before the first
  write; a refused change changes nothing. A waiting job of the default
  priority is found in the waiting list: O(n) in the list's length.
  priority: a waiting job moves behind the jobs of its new priority (the
    same priority keeps its place); a delayed one keeps it for later.
  delay: the job becomes due `value` ms from now (0: waiting now, behind
    the jobs of its priority; a waiting job given 0 stays where it is).
  data: the job's payload is replaced (JSON).
  Includes: common
  ARGV[1] prefix  the queue's key prefix
  ARGV[2] job_id
  ARGV[3] change  priority, delay or data
  ARGV[4] value   the new priority, the delay in ms, or the data (JSON)
  Returns: the job's state after the change (waiting or delayed); error
    "missing", "not-changeable:<state>" (it started, finished, waits for
    dependencies, or is in no state), "corrupt:<error>", "bad-change:<change>"
    or "bad-value:<value>"
  Emits: job:changed
  Writes: waiting, waiting:list, delayed, seq, marker, events, job
]]
local id, change, value = ARGV[2], ARGV[3], ARGV[4]
local jk = job_key(id)
if change ~= "priority" and change ~= "delay" and change ~= "data" then
  return redis.error_reply("bad-change:" .. change)
end
local number = nil
if change ~= "data" then
  if not string.find(value, "^%d+$") then return redis.error_reply("bad-value:" .. string.sub(value, 1, 40)) end
  number = tonumber(value)
end
if redis.call("EXISTS", jk) == 0 then return redis.error_reply("missing") end
local state = state_of(id)
if state ~= "waiting" and state ~= "delayed" then
  return redis.error_reply("not-changeable:" .. (state or "unknown"))
end
local problem = check_job(jk)
if problem then return redis.error_reply("corrupt:corrupt job: " .. problem) end

if change == "data" then
  redis.call("HSET", jk, JF.DATA, value)
  emit("job:changed", id, "change", "data", "state", state)
  return state
end

if change == "priority" then
  local fields = redis.call("HMGET", jk, JF.PRIORITY, JF.LIFO)
  if number ~= (tonumber(fields[1]) or DEFAULT_PRIORITY) then
    if number == DEFAULT_PRIORITY then
      redis.call("HDEL", jk, JF.PRIORITY)
    else
      redis.call("HSET", jk, JF.PRIORITY, number)
    end
    if state == "waiting" then
      leave_state("waiting", id)
      push_waiting(waiting_key, waitlist_key, seq_key, id, number, fields[2] == "1", false)
    end
  end
  emit("job:changed", id, "change", "priority", "priority", number, "state", state)
  return state
end

-- delay
if number > 0 then
  leave_state(state, id)
  redis.call("ZADD", delayed_key, now_ms() + number, id)
  state = "delayed"
elseif state == "delayed" then
  redis.call("ZREM", delayed_key, id)
  enqueue_waiting(id, jk, false)
  state = "waiting"
end
-- idle workers wait no longer than the next due job: wake them to look again
redis.call("ZADD", marker_key, 0, "1")
emit("job:changed", id, "change", "delay", "delay", number, "state", state)
return state
