--[[
  fetch_jobs(now, token, worker, lease_ms, want, start_now): promotes due delayed jobs,
  then leases up to `want` waiting jobs (in run order, see common) unless
  the queue is paused, rate limited or at its global concurrency cap.

  Returns {status, next_due, jobs...} where status is "ok", "paused",
  "busy" (the global concurrency cap is full: nothing could be leased, or
  fewer jobs than wanted) or "limited:<ms>", next_due the earliest delayed
  due time (or -1), and each
  job is a flat run of id, JOB_FIELDS, then the results of its dependencies
  (a nested field/value list, or "" when it has none).
  Jobs beyond the first `start_now` are prefetched: the worker holds them
  before it starts them, so they are marked reserved (JF.RESERVED = 1) until it says
  it started them; a reserved job of a dead worker goes back to waiting
  without counting a stall (sweep.lua), marked released (JF.RESERVED = "r"):
  it may have started in the moment before its worker could say so.
  A job that comes back from a stall (JF.STALLS > 0) or released runs
  isolated, so that only a job that kills its worker accumulates stalls and
  a released one that did start counts its next run: it is leased only as
  the first job of a call and then alone (the jobs popped with it go back to
  the front of waiting), and always reserved: the worker runs nothing beside
  it and says that it starts it before it does (finish.lua's `started`).
  A worker that met the cap waits on the marker: wake_for_free_slot, run
  after jobs leave `active`, sets it while a slot is free and work waits.
  The call that takes the last waiting job emits queue:drained (field w,
  the worker); calls that find the queue empty emit nothing.
  Emits: job:waiting (promoted), job:active, job:failed (a corrupt job),
  queue:drained.
]]
local PROMOTE_LIMIT = 1000
local TIE_LIMIT = 5000 -- due jobs of one millisecond read at once (see due_jobs)
-- engine/contracts/worker.py reads each job by this list (FETCHED_FIELDS);
-- a test holds the two equal.
local JOB_FIELDS = {JF.NAME, JF.DATA, JF.OPTIONS, JF.ATTEMPTS, JF.STALLS, JF.CREATED,
  JF.HAS_DEPENDENTS, JF.HAS_RESULTS, JF.RESERVED}
local JOB_DATA, JOB_OPTIONS = 2, 3 -- indexes of JF.DATA and JF.OPTIONS in JOB_FIELDS
local JOB_STALLS = 5 -- index of JF.STALLS in JOB_FIELDS
local JOB_HAS_RESULTS = 8 -- index of JF.HAS_RESULTS in JOB_FIELDS
local JOB_RESERVED = 9 -- index of JF.RESERVED in JOB_FIELDS
-- What each job's HMGET reads: JOB_FIELDS, then the first chunk of data and
-- of options (long_value in common), so that an unchunked job costs one read.
local READ_FIELDS = {}
for f = 1, #JOB_FIELDS do READ_FIELDS[f] = JOB_FIELDS[f] end
READ_FIELDS[#JOB_FIELDS + 1] = chunk_field(JF.DATA, 1)
READ_FIELDS[#JOB_FIELDS + 2] = chunk_field(JF.OPTIONS, 1)

-- Delayed jobs due in the same millisecond go to waiting in the order they
-- were added (the zset orders them by id text: "10" before "9"): by the
-- time their add began (JF.CREATED), then their number in the queue's
-- sequence (a generated id, or JF.SEQUENCE). A call that would stop inside
-- a millisecond of due jobs reads that millisecond whole, up to TIE_LIMIT
-- jobs (beyond, the rest of it follows in id-text order).
local function add_order(ids)
  local keys = {}
  for i = 1, #ids do
    local fields = redis.pcall("HMGET", job_key(ids[i]), JF.CREATED, JF.SEQUENCE) -- pcall: corrupt ones fail later
    if fields.err then fields = {} end
    keys[ids[i]] = {fields[1] and stamp_ms(fields[1]) or 0, tonumber(fields[2]) or tonumber(ids[i]) or math.huge}
  end
  table.sort(ids, function(a, b)
    local ka, kb = keys[a], keys[b]
    if ka[1] ~= kb[1] then return ka[1] < kb[1] end
    if ka[2] ~= kb[2] then return ka[2] < kb[2] end
    return a < b
  end)
  return ids
end

-- The due delayed jobs to promote now: by due time, then add order.
local function due_jobs(now)
  local due = redis.call("ZRANGEBYSCORE", delayed_key, "-inf", now, "WITHSCORES", "LIMIT", 0, PROMOTE_LIMIT)
  local last = due[#due]
  if #due == 2 * PROMOTE_LIMIT and redis.call("ZCOUNT", delayed_key, last, last) <= TIE_LIMIT then
    local whole = {} -- the page, with the millisecond it ends in read whole
    for i = 1, #due, 2 do
      if due[i + 1] ~= last then
        whole[#whole + 1] = due[i]
        whole[#whole + 1] = due[i + 1]
      end
    end
    local tail = redis.call("ZRANGEBYSCORE", delayed_key, last, last, "WITHSCORES")
    for i = 1, #tail do whole[#whole + 1] = tail[i] end
    due = whole
  end
  local ordered = {}
  local i = 1
  while i <= #due do
    local tied = {due[i]}
    local j = i + 2
    while j <= #due and due[j + 1] == due[i + 1] do
      tied[#tied + 1] = due[j]
      j = j + 2
    end
    if #tied > 1 then add_order(tied) end
    for k = 1, #tied do ordered[#ordered + 1] = tied[k] end
    i = j
  end
  return ordered
end

-- Moves due delayed jobs to waiting; returns the earliest due time left
-- (or -1). One call when nothing is due.
local function promote_due(now)
  local first = redis.call("ZRANGE", delayed_key, 0, 0, "WITHSCORES")
  if not first[2] then return -1 end
  if tonumber(first[2]) > now then return tonumber(first[2]) end
  local due = due_jobs(now)
  local sound = sound_jobs(due, now) -- the others fail (corrupt)
  for i = 1, #sound do
    local id = sound[i]
    enqueue_waiting(id, job_key(id), false)
    emit("job:waiting", id)
  end
  for i = 1, #due, PROMOTE_LIMIT do
    redis.call("ZREM", delayed_key, unpack(due, i, math.min(i + PROMOTE_LIMIT - 1, #due)))
  end
  first = redis.call("ZRANGE", delayed_key, 0, 0, "WITHSCORES")
  if first[2] then return tonumber(first[2]) end
  return -1
end

local function fetch_jobs(now, token, worker, lease_ms, want, start_now)
  local result = {"ok", promote_due(now)}
  if want <= 0 then
    return result
  end
  local meta = redis.call("HMGET", meta_key, "paused", "rl_max", "rl_ms", "conc")
  if meta[1] then
    result[1] = "paused"
    return result
  end
  local conc = tonumber(meta[4])
  local capped = false -- the cap, not the worker, bounds this fetch
  if conc then
    local room = conc - redis.call("ZCARD", active_key)
    if room <= want then
      want = room
      capped = true
    end
    if want <= 0 then
      result[1] = "busy"
      return result
    end
  end
  -- Rate limit: a sliding window over the start times of the last rl_ms
  -- (a zset of starts), so no window of that length, wherever it begins,
  -- holds more than rl_max starts across all workers.
  local rl_max = tonumber(meta[2])
  local rl_ms = tonumber(meta[3])
  if rl_max then
    redis.call("ZREMRANGEBYSCORE", limiter_key, "-inf", now - rl_ms - 1)
    local room = rl_max - redis.call("ZCARD", limiter_key)
    if room <= 0 then
      local oldest = redis.call("ZRANGE", limiter_key, 0, 0, "WITHSCORES")
      local wait = 1
      if oldest[2] then wait = math.max(tonumber(oldest[2]) + rl_ms + 1 - now, 1) end
      result[1] = "limited:" .. wait
      return result
    end
    if room < want then want = room end
  end
  local popped = sound_jobs(pop_waiting(want), now) -- the others fail (corrupt)
  local stamp = now_stamp()
  local taken = 0
  local deadline = now + lease_ms
  local leases = {}
  local isolated = false -- a stalled or released job was leased: nothing comes with it
  local back = {} -- popped, not leased: back to the front of waiting
  for i = 1, #popped do
    local id = popped[i]
    local jk = job_key(id)
    local fields = redis.call("HMGET", jk, unpack(READ_FIELDS))
    local alone = fields[1] and ((tonumber(fields[JOB_STALLS]) or 0) > 0 or fields[JOB_RESERVED] == "r")
    if fields[1] and (isolated or (alone and taken > 0)) then
      back[#back + 1] = id
    elseif fields[1] then
      leases[#leases + 1] = deadline
      leases[#leases + 1] = id
      local reserved = "0"
      if alone or taken >= start_now then reserved = "1" end
      if alone then isolated = true end
      redis.call("HSET", jk, JF.TOKEN, token, JF.WORKER, worker, JF.STARTED, stamp, JF.RESERVED, reserved)
      emit("job:active", id, "w", worker)
      result[#result + 1] = id
      fields[JOB_DATA] = long_value(jk, JF.DATA, fields[JOB_DATA], fields[#JOB_FIELDS + 1])
      fields[JOB_OPTIONS] = long_value(jk, JF.OPTIONS, fields[JOB_OPTIONS], fields[#JOB_FIELDS + 2])
      for f = 1, #JOB_FIELDS do
        result[#result + 1] = fields[f] or ""
      end
      if fields[JOB_HAS_RESULTS] == "1" then
        result[#result + 1] = redis.call("HGETALL", jk .. ":results")
      else
        result[#result + 1] = ""
      end
      taken = taken + 1
    end
  end
  if taken > 0 then
    redis.call("ZADD", active_key, unpack(leases))
  end
  for i = #back, 1, -1 do
    enqueue_waiting(back[i], job_key(back[i]), true)
  end
  if rl_max and taken > 0 then
    local starts = {}
    for i = 1, #leases, 2 do
      starts[#starts + 1] = now
      starts[#starts + 1] = leases[i + 1] .. "@" .. stamp
    end
    redis.call("ZADD", limiter_key, unpack(starts))
    redis.call("PEXPIRE", limiter_key, rl_ms + 1000)
  end
  local left = 0
  if taken > 0 or #popped == want then left = waiting_count() end
  if taken > 0 and left == 0 then
    -- this call took the last waiting job: said once per emptying
    emit("queue:drained", false, "w", worker)
  elseif capped and taken >= want and left > 0 then
    -- the cap is full: no other worker could lease one now (finish.lua
    -- wakes one when a slot frees), and this one waits for that wake-up
    result[1] = "busy"
  elseif #popped == want and left > 0 then
    -- more work left: wake another idle worker
    redis.call("ZADD", marker_key, 0, "1")
  end
  return result
end
