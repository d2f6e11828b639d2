--[[
  add_job(now, stamp, id, name, data, opts, priority, lifo, delay_ms)
  Adds one job unless its id exists. An empty id takes the next number of
  the queue's sequence (skipping numbers that a caller used as its own id).
  Returns id, created (1 new, 0 the id existed already).
  Emits: job:added (with state waiting or delayed).
]]
local function add_job(now, stamp, id, name, data, opts, priority, lifo, delay)
  local seq = redis.call("INCR", seq_key)
  if id == "" then
    id = tostring(seq)
    while redis.call("EXISTS", job_key(id)) == 1 do
      seq = redis.call("INCR", seq_key)
      id = tostring(seq)
    end
  elseif redis.call("EXISTS", job_key(id)) == 1 then
    return id, 0
  end
  local fields = {"n", name, "d", data, "ts", stamp}
  if opts ~= "" then
    fields[#fields + 1] = "o"
    fields[#fields + 1] = opts
  end
  if priority ~= DEFAULT_PRIORITY then
    fields[#fields + 1] = "pri"
    fields[#fields + 1] = priority
  end
  if lifo then
    fields[#fields + 1] = "lifo"
    fields[#fields + 1] = "1"
  end
  redis.call("HSET", job_key(id), unpack(fields))
  if delay > 0 then
    redis.call("ZADD", delayed_key, now + delay, id)
    emit("job:added", id, "n", name, "state", "delayed", "delay", delay)
  else
    redis.call("ZADD", waiting_key, fmt(waiting_score(priority, seq, lifo)), id)
    emit("job:added", id, "n", name, "state", "waiting")
  end
  return id, 1
end
