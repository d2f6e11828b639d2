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
  A pending job added with a delay keeps it (JF.DELAY): its delay starts
  when its dependencies have finished (includes/deps.lua).
  Emits: job:added (with state waiting, delayed or pending); job:duplicated
  (with the name asked for) when the id existed: nothing else changes.
  job_id_problem(id) says why a custom id is refused (engine/keys.py
  job_id_problem): the scripts check every id before their first write.
  add_deduplicated(now, added_at, id, name, data, opts, priority, lifo, delay_ms, batch, dedup)
  is add_job for a job with the `dedup` option ("<mode>:<ttl_ms>:<dedup id>",
  see parse_dedup): while another job holds the dedup id it adds nothing
  and returns that job's id with created 2 (mode extend also restarts the
  key's TTL), emitting job:deduplicated; in mode replace a holder that has
  not started (waiting or delayed) is deleted instead (job:removed, reason
  replaced) and the new job takes its place in the waiting line when it
  has the same priority and no delay; otherwise the new job is queued by
  its own options (its delay counts from now: debounce).
  A dedup id is held while its key exists and, for a key without TTL,
  while the job it names has not ended (a key left by a job that ended or
  is gone is taken over).
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
local function new_job_in(base, added_at, id, name, data, opts, priority, lifo, deps, delay, dedup_id)
  local seq = redis.call("INCR", base .. "seq")
  local began = seq == 1
  if id == "" then
    id = tostring(seq)
    while redis.call("EXISTS", base .. "job:" .. id) == 1 do
      seq = redis.call("INCR", base .. "seq")
      id = tostring(seq)
    end
  elseif redis.call("EXISTS", base .. "job:" .. id) == 1 then
    redis.call("XADD", base .. "events", "MAXLEN", "~", EVENTS_MAXLEN, "*", "ev", "job:duplicated", "id", id,
      "n", name)
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
    if delay > 0 then
      fields[#fields + 1] = JF.DELAY
      fields[#fields + 1] = delay
    end
  end
  if dedup_id then
    fields[#fields + 1] = JF.DEDUP
    fields[#fields + 1] = dedup_id
  end
  redis.call("HSET", base .. "job:" .. id, unpack(fields))
  return id, 1, began, seq
end

-- Puts a new job of queue `base` into delayed or waiting, and says so.
local function queue_new_job_in(base, now, id, name, priority, lifo, delay, seq, batch)
  local events = base .. "events"
  if delay > 0 then
    -- jobs due together run in add order: a custom id says nothing of it
    if id ~= tostring(seq) then redis.call("HSET", base .. "job:" .. id, JF.SEQUENCE, seq) end
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
  id, created, began, seq = new_job_in(base, added_at, id, name, data, opts, priority, lifo, deps, delay)
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
  id, created, began, seq = new_job_in(prefix, added_at, id, name, data, opts, priority, lifo, 0, delay)
  if created == 1 then
    queue_new_job_in(prefix, now, id, name, priority, lifo, delay, seq, batch)
  end
  return id, created, began
end

local DEDUP_MODES = {plain = true, extend = true, replace = true}

-- The mode, TTL (ms, or nil) and dedup id of a `dedup` argument
-- ("<mode>:<ttl_ms>:<dedup id>", engine/options.py Dedup.packed), or nil
-- when it is malformed.
local function parse_dedup(dedup)
  local mode, ttl, dedup_id = string.match(dedup, "^(%a+):(%d*):(.+)$")
  if not mode or not DEDUP_MODES[mode] then return nil end
  return mode, tonumber(ttl), dedup_id
end

-- Why the `dedup` argument cannot be used, or nil. Reads only.
local function dedup_problem(dedup)
  local mode, _, dedup_id = parse_dedup(dedup)
  if not mode then return "malformed" end
  local kind = redis.call("TYPE", dedup_key(dedup_id))["ok"]
  if kind ~= "string" and kind ~= "none" then return "its key holds a " .. kind end
  return nil
end

-- The job holding the dedup id of `key` and its state (false when it is
-- gone), or nil when the id is free.
local function dedup_holder(key)
  local holder = redis.call("GET", key)
  if not holder then return nil end
  local state = false
  if redis.call("EXISTS", job_key(holder)) == 1 then state = state_of(holder) end
  if redis.call("PTTL", key) == -1 and (not state or state == "completed" or state == "failed") then
    return nil
  end
  return holder, state
end

local function replaceable(holder, state)
  if state ~= "waiting" and state ~= "delayed" then return false end
  local jk = job_key(holder)
  return not check_keys(jk) and not redis.call("HGET", jk, JF.HAS_DEPENDENTS)
end

-- Deletes a job being replaced; returns its place in the waiting line (a
-- zset score, or an index in the list, where its id stays until the
-- caller overwrites or removes it) and its priority.
local function take_out_replaced(old, state)
  local priority = tonumber(redis.call("HGET", job_key(old), JF.PRIORITY)) or DEFAULT_PRIORITY
  local place = nil
  if state == "waiting" then
    local score = redis.call("ZSCORE", waiting_key, old)
    if score then
      place = {score = score}
      redis.call("ZREM", waiting_key, old)
    else
      place = {at = redis.call("LPOS", waitlist_key, old)}
    end
  else
    redis.call("ZREM", delayed_key, old)
  end
  delete_job(old)
  return place, priority
end

local function add_deduplicated(now, added_at, id, name, data, opts, priority, lifo, delay, batch, dedup)
  if id ~= "" and redis.call("EXISTS", job_key(id)) == 1 then return id, 0, false end
  -- jobs added before this one in the same call are put in their state
  -- first: the holder may be one of them
  if batch then
    push_waiting_batch(batch)
    batch.zset, batch.tail, batch.head = {}, {}, {}
  end
  local mode, ttl, dedup_id = parse_dedup(dedup)
  local key = dedup_key(dedup_id)
  local holder, state = dedup_holder(key)
  local place, old_priority
  if holder then
    if mode ~= "replace" or not replaceable(holder, state) then
      if mode == "extend" and ttl then redis.call("PEXPIRE", key, ttl) end
      emit("job:deduplicated", holder, "dedup", dedup_id)
      return holder, 2, false
    end
    place, old_priority = take_out_replaced(holder, state)
  end
  local created, began, seq
  id, created, began, seq = new_job_in(prefix, added_at, id, name, data, opts, priority, lifo, 0, delay, dedup_id)
  if ttl then
    redis.call("SET", key, id, "PX", ttl)
  else
    redis.call("SET", key, id)
  end
  if holder then emit("job:removed", holder, "state", state, "reason", "replaced", "by", id) end
  if place and delay == 0 and priority == old_priority then
    if place.at then
      redis.call("LSET", waitlist_key, place.at, id)
    else
      redis.call("ZADD", waiting_key, place.score, id)
    end
    emit("job:added", id, "n", name, "state", "waiting")
  else
    if place and place.at then redis.call("LREM", waitlist_key, 1, holder) end
    queue_new_job_in(prefix, now, id, name, priority, lifo, delay, seq, batch)
  end
  return id, created, began
end
