--[[
  add_job_in(base, now, stamp, id, name, data, opts, priority, lifo, delay_ms, deps)
  Adds one job to the queue whose keys start with `base` unless its id
  exists. An empty id takes the next number of that queue's sequence
  (skipping numbers that a caller used as its own id). With deps > 0 the job
  waits in `pending` until that many dependencies have finished.
  Returns id, created (1 new, 0 the id existed already), and true when this
  call began the queue's sequence: its first job since the queue was created
  or obliterated (obliterate deletes the sequence).
  Emits: job:added (with state waiting, delayed or pending).
  A waiting job of the default priority goes to the queue's list (RPUSH,
  or LPUSH when LIFO), any other to its zset (see common).
  add_job(...) is the same for the script's own queue. `batch`, when given
  (new_waiting_batch), collects the waiting entries for one ZADD, RPUSH and
  LPUSH by the caller (add_bulk; push_waiting_batch).
]]
local function new_waiting_batch()
  return {zset = {}, tail = {}, head = {}}
end

local function push_waiting_batch(batch)
  if #batch.zset > 0 then redis.call("ZADD", waiting_key, unpack(batch.zset)) end
  if #batch.tail > 0 then redis.call("RPUSH", waitlist_key, unpack(batch.tail)) end
  if #batch.head > 0 then redis.call("LPUSH", waitlist_key, unpack(batch.head)) end
end

local function add_job_in(base, now, stamp, id, name, data, opts, priority, lifo, delay, deps, batch)
  local seq = redis.call("INCR", base .. "seq")
  local began = seq == 1
  if id == "" then
    id = tostring(seq)
    while redis.call("EXISTS", base .. "job:" .. id) == 1 do
      seq = redis.call("INCR", base .. "seq")
      id = tostring(seq)
    end
  elseif redis.call("EXISTS", base .. "job:" .. id) == 1 then
    return id, 0, began
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
  if deps > 0 then
    fields[#fields + 1] = "deps"
    fields[#fields + 1] = deps
    fields[#fields + 1] = "pr"
    fields[#fields + 1] = "1"
  end
  redis.call("HSET", base .. "job:" .. id, unpack(fields))
  local events = base .. "events"
  if deps > 0 then
    redis.call("ZADD", base .. "pending", now, id)
    redis.call("XADD", events, "MAXLEN", "~", EVENTS_MAXLEN, "*", "ev", "job:added", "id", id, "n", name,
      "state", "pending")
  elseif delay > 0 then
    redis.call("ZADD", base .. "delayed", now + delay, id)
    redis.call("XADD", events, "MAXLEN", "~", EVENTS_MAXLEN, "*", "ev", "job:added", "id", id, "n", name,
      "state", "delayed", "delay", delay)
  else
    if priority == DEFAULT_PRIORITY then
      if batch then
        local side = lifo and batch.head or batch.tail
        side[#side + 1] = id
      else
        redis.call(lifo and "LPUSH" or "RPUSH", base .. WAITLIST_SUFFIX, id)
      end
    elseif batch then
      batch.zset[#batch.zset + 1] = fmt(waiting_score(priority, seq, lifo))
      batch.zset[#batch.zset + 1] = id
    else
      redis.call("ZADD", base .. "waiting", fmt(waiting_score(priority, seq, lifo)), id)
    end
    redis.call("XADD", events, "MAXLEN", "~", EVENTS_MAXLEN, "*", "ev", "job:added", "id", id, "n", name,
      "state", "waiting")
  end
  return id, 1, began
end

local function add_job(now, stamp, id, name, data, opts, priority, lifo, delay, batch)
  return add_job_in(prefix, now, stamp, id, name, data, opts, priority, lifo, delay, 0, batch)
end
