--[[
  add: adds one or many jobs (add_bulk sends a chunk per call).
  Includes: common
  ARGV[2] queue name (for the registry)
  ARGV[3] number of jobs, then 7 values per job:
          id ("" for a generated one), name, data JSON, opts JSON ("" when
          default), priority, lifo ("1"/"0"), delay_ms
  Returns a flat list: id, created (1 new, 0 the id existed already), ...
  Emits: job:added (with state waiting or delayed).
]]
local now = now_ms()
local stamp = now_stamp()
local count = tonumber(ARGV[3])
local result = {}
local woke = false
redis.call("SADD", registry_key, ARGV[2])
for i = 0, count - 1 do
  local base = 4 + i * 7
  local id = ARGV[base]
  local seq = redis.call("INCR", seq_key)
  if id == "" then id = tostring(seq) end
  local jk = job_key(id)
  if redis.call("EXISTS", jk) == 1 then
    result[#result + 1] = id
    result[#result + 1] = 0
  else
    local priority = tonumber(ARGV[base + 4])
    local lifo = ARGV[base + 5] == "1"
    local delay = tonumber(ARGV[base + 6])
    redis.call("HSET", jk, "n", ARGV[base + 1], "d", ARGV[base + 2], "ts", stamp)
    if ARGV[base + 3] ~= "" then redis.call("HSET", jk, "o", ARGV[base + 3]) end
    if priority ~= DEFAULT_PRIORITY then redis.call("HSET", jk, "pri", priority) end
    if lifo then redis.call("HSET", jk, "lifo", "1") end
    if delay > 0 then
      redis.call("ZADD", delayed_key, now + delay, id)
      emit("job:added", id, "n", ARGV[base + 1], "state", "delayed", "delay", delay)
    else
      redis.call("ZADD", waiting_key, fmt(waiting_score(priority, seq, lifo)), id)
      emit("job:added", id, "n", ARGV[base + 1], "state", "waiting")
    end
    woke = true
    result[#result + 1] = id
    result[#result + 1] = 1
  end
end
if woke then redis.call("ZADD", marker_key, 0, "1") end
return result
