--[[
  Adding jobs.
  add_job(now, added_at, id, name, data, opts, priority, lifo, delay_ms, batch)
  adds one job to the script's own queue unless its id exists: to `delayed`
  when delay_ms > 0, else to waiting. A waiting job of the default priority
  goes to the queue's list (RPUSH, or LPUSH when LIFO), any other to its
  zset (see common). `batch`, when given (new_waiting_batch), collects the
  waiting entries for one ZADD, RPUSH and LPUSH by the caller
  (push_waiting_batch).
  add_job_in(base, now, added_at, id, name, data, opts, priority, lifo, delay_ms, deps)
  is the same for the queue whose keys start with `base`; with deps > 0 the
  job waits in `pending` until that many dependencies have finished.
  An empty id takes the next number of the queue's sequence (skipping
  numbers that a caller used as its own id).
  added_at is the time added, now_micros (common).
  Both return id, created (1 new, 0 the id existed already), and true when
  this call began the queue's sequence: its first job since the queue was
  created or obliterated (obliterate deletes the sequence).
  Emits: job:added (with state waiting, delayed or pending).
  job_id_problem(id) says why a custom id is refused (engine/keys.py
  job_id_problem): the scripts check every id before their first write.
]]
local MAX_JOB_ID_BYTES = 256 -- engine/keys.py MAX_JOB_ID_BYTES
local JOB_KEY_SUFFIXES = {logs = true, deps = true, results = true} -- engine/keys.py JOB_KEY_SUFFIXES

-- Why `id` cannot be a custom job id (it could name another job's key or
-- a generated id), or nil; "" asks for a generated id.
local function job_id_problem(id)
  if id == "" then return nil end
  if #id > MAX_JOB_ID_BYTES then return "longer than " .. MAX_JOB_ID_BYTES .. " bytes" end
  if string.find(id, "^%d+$") then return "only digits: generated ids are numbers" end
  if string.find(id, "[%s%c{}]") then return "no whitespace, braces or control characters" end
  local suffix = string.match(id, ":([^:]*)$")
  if suffix and JOB_KEY_SUFFIXES[suffix] then
    return "ends in ':" .. suffix .. "', which names another job's " .. suffix .. " key"
  end
  return nil
end

local function new_waiting_batch()
  return {zset = {}, tail = {}, head = {}}
end

local function push_waiting_batch(batch)
  if #batch.zset > 0 then redis.call("ZADD", waiting_key, unpack(batch.zset)) end
  if #batch.tail > 0 then redis.call("RPUSH", waitlist_key, unpack(batch.tail)) end
  if #batch.head > 0 then redis.call("LPUSH", waitlist_key, unpack(batch.head)) end
end

-- Writes the job's hash unless its id exists. Returns id, created, began,
-- and the sequence number that orders it among its priority.
local function new_job_in(base, added_at, id, name, data, opts, priority, lifo, deps)
  local seq = redis.call("INCR", base .. "seq")
  local began = seq == 1
  if id == "" then
    id = tostring(seq)
    while redis.call("EXISTS", base .. "job:" .. id) == 1 do
      seq = redis.call("INCR", base .. "seq")
      id = tostring(seq)
    end
  elseif redis.call("EXISTS", base .. "job:" .. id) == 1 then
    return id, 0, began, seq
  end
  local fields = {JF.NAME, name, JF.CREATED, added_at}
  add_long_value(fields, JF.DATA, data)
  if opts ~= "" then add_long_value(fields, JF.OPTIONS, opts) end
  if priority ~= DEFAULT_PRIORITY then
    fields[#fields + 1] = JF.PRIORITY
    fields[#fields + 1] = priority
  end
  if lifo then
    fields[#fields + 1] = JF.LIFO
    fields[#fields + 1] = "1"
  end
  if deps > 0 then
    fields[#fields + 1] = JF.DEPENDENCIES
    fields[#fields + 1] = deps
    fields[#fields + 1] = JF.HAS_RESULTS
    fields[#fields + 1] = "1"
  end
  redis.call("HSET", base .. "job:" .. id, unpack(fields))
  return id, 1, began, seq
end

-- Puts a new job of queue `base` into delayed or waiting, and says so.
local function queue_new_job_in(base, now, id, name, priority, lifo, delay, seq, batch)
  local events = base .. "events"
  if delay > 0 then
    redis.call("ZADD", base .. "delayed", now + delay, id)
    redis.call("XADD", events, "MAXLEN", "~", EVENTS_MAXLEN, "*", "ev", "job:added", "id", id, "n", name,
      "state", "delayed", "delay", delay)
    return
  end
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

local function add_job_in(base, now, added_at, id, name, data, opts, priority, lifo, delay, deps)
  local created, began, seq
  id, created, began, seq = new_job_in(base, added_at, id, name, data, opts, priority, lifo, deps)
  if created == 0 then return id, 0, began end
  if deps > 0 then
    redis.call("ZADD", base .. "pending", now, id)
    redis.call("XADD", base .. "events", "MAXLEN", "~", EVENTS_MAXLEN, "*", "ev", "job:added", "id", id,
      "n", name, "state", "pending")
  else
    queue_new_job_in(base, now, id, name, priority, lifo, delay, seq, nil)
  end
  return id, 1, began
end

local function add_job(now, added_at, id, name, data, opts, priority, lifo, delay, batch)
  local created, began, seq
  id, created, began, seq = new_job_in(prefix, added_at, id, name, data, opts, priority, lifo, 0)
  if created == 1 then
    queue_new_job_in(prefix, now, id, name, priority, lifo, delay, seq, batch)
  end
  return id, created, began
end
