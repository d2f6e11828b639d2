--[[
  Shared prelude for every script. The Python loader prepends this file.

  Every script receives the same KEYS, in this order (engine/keys.py):
    KEYS[1]  waiting    zset  jobs with a priority of their own:
                              score = priority * 2^33 + 2^32 +/- seq
    KEYS[2]  waiting:list list jobs of the default priority, the next to
                              run at the head: FIFO jobs RPUSH, LIFO jobs
                              and jobs handed back to the front LPUSH
    KEYS[3]  active     zset  score = lease deadline (ms)
    KEYS[4]  delayed    zset  score = due time (ms)
    KEYS[5]  completed  zset  score = finish time (ms)
    KEYS[6]  failed     zset  score = finish time (ms)
    KEYS[7]  pending    zset  score = time added (ms); jobs waiting on dependencies
    KEYS[8]  meta       hash  paused, rate limit, global concurrency
    KEYS[9]  events     stream
    KEYS[10] marker     zset  wake-up marker that idle workers block on
    KEYS[11] seq        string counter for job ids and FIFO order
    KEYS[12] limiter    zset  job starts of the rate-limit window (score = ms)
    KEYS[13] registry   set   every queue name under the prefix
    KEYS[14] sweep      string throttles stalled and retention sweeps (a lock)
  ARGV[1] is always the key prefix of the queue ("messai:{name}:"); job keys
  are derived from it, since their ids are only known inside the script.

  The waiting state is the zset and the list together (a list entry costs a
  few bytes, a zset entry about a hundred, and most jobs keep the default
  priority). Run order: zset entries of priorities up to the default (a
  default-priority entry there was queued before the list existed, so it
  is older than anything in the list), then the list, then the zset's
  lower priorities. Finding one job in the list (LPOS, LREM) is O(n) in the
  list's length.
]]
-- Bound per call by bind(KEYS, ARGV), which every script runs first: the
-- scripts are loaded as Redis functions, whose top level runs once at load
-- time, so nothing at the top level may read KEYS or ARGV.
local waiting_key, waitlist_key, active_key, delayed_key
local completed_key, failed_key, pending_key
local meta_key, events_key, marker_key
local seq_key, limiter_key, registry_key, sweep_key
local prefix
local server_time
local STATE_KEYS -- the zset of each state; `waiting` also has the list (leave_state, waiting_range)

local function bind(keys, argv)
  waiting_key, waitlist_key, active_key, delayed_key = keys[1], keys[2], keys[3], keys[4]
  completed_key, failed_key, pending_key = keys[5], keys[6], keys[7]
  meta_key, events_key, marker_key = keys[8], keys[9], keys[10]
  seq_key, limiter_key, registry_key, sweep_key = keys[11], keys[12], keys[13], keys[14]
  prefix = argv[1]
  server_time = nil
  STATE_KEYS = {
    waiting = waiting_key, active = active_key, delayed = delayed_key,
    completed = completed_key, failed = failed_key, pending = pending_key,
  }
end

-- The fields of a job hash, as engine/jobhash.py (JobField) names them; a
-- test checks that the two agree. Scripts name fields through this table.
local JF = {
  NAME = "n",
  DATA = "d",
  OPTIONS = "o",
  CREATED = "ts",
  PRIORITY = "pri",
  LIFO = "lifo",
  ATTEMPTS = "att",
  STALLS = "stl",
  MANUAL_RETRIES = "rtr",
  TOKEN = "tok",
  RESERVED = "rsv",
  WORKER = "w",
  STARTED = "st",
  FINISHED = "fin",
  RUN_TIME = "rt",
  PROGRESS = "p",
  RESULT = "r",
  ERROR = "e",
  STACK = "stk",
  CANCELLED = "cx",
  HAS_DEPENDENTS = "hd",
  DEPENDENCIES = "deps",
  HAS_RESULTS = "pr",
  DEPENDENCY_FAILED = "dfail",
  SEQUENCE = "sq",
  KEEP = "kp",
  DEDUP = "dd",
  CHILDREN = "kids",
  DELAY = "dly",
}

-- Long values: the one place that writes and reads job data and options
-- (engine/jobhash.py long_value is the same reader in Python).
-- A hash keeps the compact listpack encoding while each value is at most
-- hash-max-listpack-value bytes (64 on a default Redis); one longer value
-- turns a job hash into a hash table, about 230 bytes more per job. So a
-- value of CHUNK_BYTES + 1 to CHUNKED_MAX_BYTES bytes is stored in chunks
-- of at most CHUNK_BYTES (63: a string of up to 63 bytes has a one-byte
-- header in a listpack) as fields <f>1, <f>2, ... ("d1", "d2"...), without
-- <f> itself. A shorter value stays in <f>, and so does a longer one: its
-- chunks would near hash-max-listpack-entries (128 fields), and beside it
-- a hash table costs little. A chunk ends on a UTF-8 character boundary,
-- so each one is text of its own. Jobs written before chunks existed have
-- <f> only, and read the same.
local CHUNK_BYTES = 63 -- engine/jobhash.py CHUNK_BYTES
local CHUNKED_MAX_BYTES = 2048 -- engine/jobhash.py CHUNKED_MAX_BYTES
local MAX_CHUNKS = 64 -- engine/jobhash.py MAX_CHUNKS: readers stop there
local LONG_FIELDS = {JF.DATA, JF.OPTIONS}
-- Chunk names and the pattern that reads one back, made once at load time:
-- CHUNK_NAMES[field][index] is "<field><index>".
local CHUNK_NAMES, CHUNK_PATTERNS = {}, {}
for f = 1, #LONG_FIELDS do
  local field = LONG_FIELDS[f]
  CHUNK_NAMES[field] = {}
  for index = 1, MAX_CHUNKS do CHUNK_NAMES[field][index] = field .. index end
  CHUNK_PATTERNS[f] = "^" .. field .. "(%d+)$"
end

local function chunk_field(field, index)
  return CHUNK_NAMES[field][index]
end

-- Appends `field`, `value` to the HSET arguments `fields`: as one field, or
-- cut into chunks (see above).
local function add_long_value(fields, field, value)
  local length, n = #value, #fields
  if length <= CHUNK_BYTES or length > CHUNKED_MAX_BYTES then
    fields[n + 1] = field
    fields[n + 2] = value
    return
  end
  local names = CHUNK_NAMES[field]
  local first, index = 1, 0
  while first <= length do
    local last = first + CHUNK_BYTES - 1
    if last >= length then
      last = length
    else
      -- not before a continuation byte (10xxxxxx): that would cut a character
      local byte = string.byte(value, last + 1)
      while byte >= 128 and byte < 192 and last > first do
        last = last - 1
        byte = string.byte(value, last + 1)
      end
    end
    index = index + 1
    fields[n + 1] = names[index]
    fields[n + 2] = string.sub(value, first, last)
    n = n + 2
    first = last + 1
  end
end

-- The value of `field` of the job at `jk`, or false. A caller that read
-- `field` and its first chunk (HMGET ..., field, chunk_field(field, 1))
-- passes both: an unchunked value costs no further command, a chunked one
-- an HMGET per 8 chunks.
local function long_value(jk, field, value, first_chunk)
  if value then return value end
  if not first_chunk then return false end
  local parts = {first_chunk}
  while #parts < MAX_CHUNKS do
    local names = {}
    for i = #parts + 1, math.min(#parts + 8, MAX_CHUNKS) do names[#names + 1] = CHUNK_NAMES[field][i] end
    local more = redis.call("HMGET", jk, unpack(names))
    for i = 1, #names do
      if not more[i] then return table.concat(parts) end
      parts[#parts + 1] = more[i]
    end
  end
  return table.concat(parts)
end

-- An HGETALL reply (flat field, value list) with the chunks of each long
-- value joined into its field, in the order they were stored.
local function join_chunks(flat)
  local joined, chunks, whole = {}, {}, {}
  for i = 1, #flat, 2 do
    local field, chunk = flat[i], nil
    for f = 1, #LONG_FIELDS do
      local index = string.match(field, CHUNK_PATTERNS[f])
      if index then
        chunks[LONG_FIELDS[f]] = chunks[LONG_FIELDS[f]] or {}
        chunks[LONG_FIELDS[f]][tonumber(index)] = flat[i + 1]
        chunk = true
        break
      end
    end
    if not chunk then
      whole[field] = true
      joined[#joined + 1] = field
      joined[#joined + 1] = flat[i + 1]
    end
  end
  for f = 1, #LONG_FIELDS do
    local field, parts = LONG_FIELDS[f], chunks[LONG_FIELDS[f]]
    if parts and parts[1] and not whole[field] then
      local value = {}
      while parts[#value + 1] and #value < MAX_CHUNKS do value[#value + 1] = parts[#value + 1] end
      joined[#joined + 1] = field
      joined[#joined + 1] = table.concat(value)
    end
  end
  return joined
end

-- Copies of Python constants: each names its source, and a test checks that
-- the two agree.
local EVENTS_MAXLEN = 10000 -- engine/events.py EVENTS_MAXLEN
local METRICS_TTL_S = 691200 -- engine/metrics.py METRICS_TTL_S (8 days)
local PRIORITY_BAND = 8589934592 -- engine/options.py PRIORITY_BAND (2^33)
local FIFO_BASE = 4294967296 -- engine/options.py FIFO_BASE (2^32)
local DEFAULT_PRIORITY = 5 -- engine/options.py DEFAULT_PRIORITY; not stored in the job hash
local MICROS_FROM = 100000000000000 -- engine/jobhash.py MICROS_FROM: larger stored times are in microseconds
local WAITLIST_SUFFIX = "waiting:list" -- engine/keys.py WAITLIST_SUFFIX: a queue's list beside its zset
-- zset scores below this run before the list, the others after it
local AFTER_LIST_SCORE = (DEFAULT_PRIORITY + 1) * PRIORITY_BAND

local function now_ms()
  server_time = server_time or redis.call("TIME")
  return tonumber(server_time[1]) * 1000 + math.floor(tonumber(server_time[2]) / 1000)
end

-- The same instant as now_ms, as text with microseconds ("1795996050374.123"):
-- job timestamps keep them so that start latency can be measured below 1 ms.
local function now_stamp()
  server_time = server_time or redis.call("TIME")
  local micros = string.format("%06d", tonumber(server_time[2]))
  return server_time[1] .. string.sub(micros, 1, 3) .. "." .. string.sub(micros, 4, 6)
end

-- The same instant as an integer of microseconds ("1795996050374123"): the
-- time a job was added (JF.CREATED), which a listpack stores as an
-- 8-byte integer instead of a 17-byte string.
local function now_micros()
  server_time = server_time or redis.call("TIME")
  return server_time[1] .. string.format("%06d", tonumber(server_time[2]))
end

-- Milliseconds of a stored time: now_micros' integer microseconds, or
-- now_stamp's (and older jobs') milliseconds; engine/jobhash.py stamp_ms.
local function stamp_ms(text)
  local value = tonumber(text)
  if not value then return nil end
  if value >= MICROS_FROM then return value / 1000 end
  return value
end

local function job_key(id)
  return prefix .. "job:" .. id
end

local function logs_key(id)
  return prefix .. "job:" .. id .. ":logs"
end

-- The key of a dedup id (the `dedup` job option): a string holding the id
-- of the job that has it, with the option's TTL if any.
local function dedup_key(dedup_id)
  return prefix .. "dedup:" .. dedup_id
end

-- A job that ends (completed, failed or removed) frees its dedup id, unless
-- a TTL keeps the key (throttling) or the key names another job by now.
-- `dedup_id` is the job's JF.DEDUP field (nil: it has none). A key of
-- another type is left alone (pcall: GET on it is an error).
local function release_dedup(id, dedup_id)
  if not dedup_id then return end
  local key = dedup_key(dedup_id)
  if redis.pcall("GET", key) == id and redis.call("PTTL", key) == -1 then
    redis.call("DEL", key)
  end
end

local function fmt(n)
  return string.format("%.0f", n)
end

local function emit(event, id, ...)
  if id then
    return redis.call("XADD", events_key, "MAXLEN", "~", EVENTS_MAXLEN, "*", "ev", event, "id", id, ...)
  end
  return redis.call("XADD", events_key, "MAXLEN", "~", EVENTS_MAXLEN, "*", "ev", event, ...)
end

local function waiting_score(priority, seq, lifo)
  if lifo then
    return priority * PRIORITY_BAND + FIFO_BASE - seq
  end
  return priority * PRIORITY_BAND + FIFO_BASE + seq
end

-- Puts a job into a queue's waiting state (its zset, list and seq keys)
-- behind the jobs of its priority, or ahead of them when it was added LIFO,
-- or when `front` is set: a job handed back or recovered from a stall has
-- waited its turn already.
local function push_waiting(zset, list, seq, id, priority, lifo, front)
  if priority == DEFAULT_PRIORITY then
    if front or lifo then
      redis.call("LPUSH", list, id)
    else
      redis.call("RPUSH", list, id)
    end
    return
  end
  local score
  if front then
    score = priority * PRIORITY_BAND
  else
    score = waiting_score(priority, redis.call("INCR", seq), lifo)
  end
  redis.call("ZADD", zset, fmt(score), id)
end

-- push_waiting for a job of this script's queue, and wakes a worker.
local function enqueue_waiting(id, jk, front)
  local fields = redis.call("HMGET", jk, JF.PRIORITY, JF.LIFO)
  push_waiting(waiting_key, waitlist_key, seq_key, id, tonumber(fields[1]) or DEFAULT_PRIORITY,
    fields[2] == "1", front)
  redis.call("ZADD", marker_key, 0, "1")
end

-- Takes up to `want` waiting jobs in run order (see the header): one
-- ZPOPMIN and one LPOP when no job has a priority of its own. Lower
-- priorities popped beyond what the list could not fill go back.
local function pop_waiting(want)
  local ids = {}
  local popped = redis.call("ZPOPMIN", waiting_key, want)
  local after = nil -- index in `popped` of the first entry that runs after the list
  for i = 1, #popped, 2 do
    if tonumber(popped[i + 1]) >= AFTER_LIST_SCORE then
      after = i
      break
    end
    ids[#ids + 1] = popped[i]
  end
  if #ids == want then return ids end
  local listed = redis.call("LPOP", waitlist_key, want - #ids)
  if listed then
    for i = 1, #listed do ids[#ids + 1] = listed[i] end
  end
  if after then
    local back = {}
    for i = after, #popped, 2 do
      if #ids < want then
        ids[#ids + 1] = popped[i]
      else
        back[#back + 1] = popped[i + 1]
        back[#back + 1] = popped[i]
      end
    end
    if #back > 0 then redis.call("ZADD", waiting_key, unpack(back)) end
  end
  return ids
end

local function waiting_count()
  return redis.call("ZCARD", waiting_key) + redis.call("LLEN", waitlist_key)
end

-- Waiting job ids at ranks start..stop of the run order (inclusive, from 0;
-- negative ranks count from the end, as in ZRANGE), or of its reverse.
-- Also returns, per id, its index in the list (false: it is in the zset).
-- At most three range reads, each bounded by the window.
local function waiting_range(start, stop, reverse)
  local in_zset = redis.call("ZCARD", waiting_key)
  local in_list = redis.call("LLEN", waitlist_key)
  local total = in_zset + in_list
  if start < 0 then start = total + start end
  if stop < 0 then stop = total + stop end
  if start < 0 then start = 0 end
  if stop > total - 1 then stop = total - 1 end
  local ids, at = {}, {}
  if start > stop then return ids, at end
  if reverse then start, stop = total - 1 - stop, total - 1 - start end
  local ahead = 0 -- zset entries that run before the list
  if in_zset > 0 then
    ahead = redis.call("ZCOUNT", waiting_key, "-inf", "(" .. fmt(AFTER_LIST_SCORE))
  end
  local function from_zset(first, last)
    if first > last then return end
    local part = redis.call("ZRANGE", waiting_key, first, last)
    for i = 1, #part do
      ids[#ids + 1] = part[i]
      at[#ids] = false
    end
  end
  from_zset(start, math.min(stop, ahead - 1))
  local first, last = math.max(start, ahead) - ahead, math.min(stop, ahead + in_list - 1) - ahead
  if first <= last then
    local part = redis.call("LRANGE", waitlist_key, first, last)
    for i = 1, #part do
      ids[#ids + 1] = part[i]
      at[#ids] = first + i - 1
    end
  end
  from_zset(math.max(start, ahead + in_list) - in_list, stop - in_list)
  if reverse then
    local n = #ids
    for i = 1, math.floor(n / 2) do
      ids[i], ids[n + 1 - i] = ids[n + 1 - i], ids[i]
      at[i], at[n + 1 - i] = at[n + 1 - i], at[i]
    end
  end
  return ids, at
end

-- Deletes a job's keys in queue `base`.
local function delete_job_in(base, id)
  local jk = base .. "job:" .. id
  redis.call("DEL", jk, jk .. ":logs", jk .. ":deps", jk .. ":results")
end

-- `base`: of another queue (default: this one).
local function delete_job(id, base)
  delete_job_in(base or prefix, id)
end

-- Which state holds the job, or false. The list is searched last (LPOS is
-- O(n)), and only for a job that exists.
local function state_of(id)
  if redis.call("ZSCORE", waiting_key, id) then return "waiting" end
  if redis.call("ZSCORE", active_key, id) then return "active" end
  if redis.call("ZSCORE", delayed_key, id) then return "delayed" end
  if redis.call("ZSCORE", failed_key, id) then return "failed" end
  if redis.call("ZSCORE", completed_key, id) then return "completed" end
  if redis.call("ZSCORE", pending_key, id) then return "pending" end
  if redis.call("EXISTS", job_key(id)) == 1 and redis.call("LPOS", waitlist_key, id) then
    return "waiting"
  end
  return false
end

-- Takes the job out of `state`; for a job in the list, LREM is O(n).
local function leave_state(state, id)
  if redis.call("ZREM", STATE_KEYS[state], id) == 0 and state == "waiting" then
    redis.call("LREM", waitlist_key, 1, id)
  end
end

-- Jobs held by a state key (the list or a zset).
local function size_of(key)
  if key == waitlist_key then return redis.call("LLEN", key) end
  return redis.call("ZCARD", key)
end

local function add_metric(now, field, amount)
  if amount == 0 then return end -- (a 0 ms run time): nothing to add, and no EXPIRE each time
  local day = math.floor(now / 86400000)
  local minute = math.floor((now % 86400000) / 60000)
  local key = prefix .. "metrics:" .. day
  if redis.call("HINCRBY", key, field .. minute, amount) == amount then
    redis.call("EXPIRE", key, METRICS_TTL_S)
  end
end

local function append_log(id, line, keep)
  local lk = logs_key(id)
  redis.call("RPUSH", lk, line)
  if keep > 0 then
    redis.call("LTRIM", lk, -keep, -1)
  end
end

-- Corrupt jobs. A Lua error keeps the writes made before it, so a script
-- checks each job it touches before its first write for it, and a job whose
-- stored data is corrupt is failed on its own while the others go on.

-- Why the keys of the job at `jk` cannot be used (its hash or its log list
-- holds another type), or nil. Reads only.
local function check_keys(jk)
  local kind = redis.call("TYPE", jk)["ok"]
  if kind ~= "hash" and kind ~= "none" then return "its key holds a " .. kind .. ", not a hash" end
  kind = redis.call("TYPE", jk .. ":logs")["ok"]
  if kind ~= "list" and kind ~= "none" then return "its log key holds a " .. kind .. ", not a list" end
  return nil
end

local INTEGER_FIELDS = {JF.ATTEMPTS, JF.STALLS, JF.MANUAL_RETRIES, JF.PRIORITY, JF.DEPENDENCIES}

-- Why the job at `jk` cannot run (check_keys, no hash, no name, an integer
-- field that is not one), or nil. Reads only.
local function check_job(jk)
  local problem = check_keys(jk)
  if problem then return problem end
  local fields = redis.call("HMGET", jk, JF.NAME, unpack(INTEGER_FIELDS))
  if not fields[1] then
    if redis.call("EXISTS", jk) == 0 then return "its hash is missing" end
    return "no name (field " .. JF.NAME .. ")"
  end
  for i = 1, #INTEGER_FIELDS do
    local value = fields[i + 1]
    if value and not string.find(value, "^%-?%d+$") then
      return "field " .. INTEGER_FIELDS[i] .. " is not an integer: " .. string.sub(value, 1, 40)
    end
  end
  return nil
end

-- Finished jobs and their retention (the trims are in includes/retention.lua).
-- A rule is "<count>:<age_ms>" (engine/options.py Keep.rule). A job with a
-- rule of its own is marked in its hash (JF.KEEP = "<c|f>:<rule>") and its
-- rule's entries are written beside the set: keep:<set>:age (score =
-- finish time + age) and keep:<set>:n:<count> (score = finish time), with
-- the counts in use in keep:<set>:counts.
local FINISHED_LETTER = {completed = "c", failed = "f"}
local KEEP_OPTION = {completed = "remove_on_complete", failed = "remove_on_fail"}

local function keep_key(base, set, suffix)
  return base .. "keep:" .. set .. ":" .. suffix
end

local function parse_rule(rule)
  local count, age = string.match(rule, "^(%-?%d+):(%-?%d+)$")
  return tonumber(count), tonumber(age)
end

-- The rule the options of the job at `jk` give for `set` (remove_on_complete
-- or remove_on_fail, as engine/options.py stores them), or nil: none, or
-- options that cannot be read. Reads only; for the paths where no worker
-- sends the rule (the stall limit, a corrupt job, a failed dependency).
local function own_rule_of(jk, set)
  local raw = redis.pcall("HGET", jk, JF.OPTIONS) -- pcall: a corrupt key is not a hash
  if type(raw) ~= "string" then return nil end
  local ok, options = pcall(cjson.decode, raw)
  if not ok or type(options) ~= "table" then return nil end
  local value = options[KEEP_OPTION[set]]
  if value == true then return "0:-1" end
  if value == false then return "-1:-1" end
  if type(value) == "number" then return fmt(value) .. ":-1" end
  if type(value) == "table" then
    return fmt(tonumber(value.count) or -1) .. ":" .. fmt(tonumber(value.age_ms) or -1)
  end
  return nil
end

-- Files a job that just finished into `set` ("completed" or "failed", whose
-- key is `set_key`) of the queue at `base`, under its own `rule` (nil: the
-- worker's). `entries`, when given, collects the set's score and id for one
-- ZADD by the caller. Returns true when the rule keeps none (count 0): the
-- job is not filed, and the caller deletes it (delete_job_in) once it no
-- longer needs it.
local function file_finished(base, set, set_key, id, now, rule, entries)
  local count, age = -1, -1
  if rule then
    count, age = parse_rule(rule)
    if count == 0 then return true end
    redis.call("HSET", base .. "job:" .. id, JF.KEEP, FINISHED_LETTER[set] .. ":" .. rule)
    if age >= 0 then redis.call("ZADD", keep_key(base, set, "age"), now + age, id) end
    if count > 0 then
      redis.call("ZADD", keep_key(base, set, "n:" .. count), now, id)
      redis.call("SADD", keep_key(base, set, "counts"), count)
    end
  end
  if entries then
    entries[#entries + 1] = now
    entries[#entries + 1] = id
  else
    redis.call("ZADD", set_key, now, id)
  end
  return false
end

-- Puts a corrupt job into `failed` with the error "corrupt job: <problem>"
-- (or deletes it, as its remove_on_fail asks, when its options can be
-- read); the caller has taken it out of its state. A key of another type
-- is replaced by a hash holding the error, so that the job can be read,
-- retried (it fails again until repaired) or removed. Returns the error.
local function fail_corrupt(id, problem, now)
  local jk = job_key(id)
  local message = "corrupt job: " .. problem
  local rule = own_rule_of(jk, "failed")
  if redis.call("TYPE", jk)["ok"] ~= "hash" then redis.call("DEL", jk) end
  redis.call("HSET", jk, JF.ERROR, message, JF.FINISHED, now)
  redis.call("HDEL", jk, JF.TOKEN)
  emit("job:failed", id, "err", message)
  if file_finished(prefix, "failed", failed_key, id, now, rule) then delete_job(id) end
  return message
end

-- The jobs of `ids` that pass check_job, in order; each other one is
-- taken out of `state` (a zset state, or nil when out already) and failed.
local function sound_jobs(ids, now, state)
  local sound = {}
  for i = 1, #ids do
    local problem = check_job(job_key(ids[i]))
    if problem then
      if state then redis.call("ZREM", STATE_KEYS[state], ids[i]) end
      fail_corrupt(ids[i], problem, now)
    else
      sound[#sound + 1] = ids[i]
    end
  end
  return sound, #ids - #sound
end

-- Jobs left `active` (finish.lua; sweep.lua when it fails one at the stall
-- limit): on a capped queue, a worker whose fetch met the cap ("busy")
-- blocks on the marker until this wakes it, so that the next job starts as
-- soon as a slot frees (it used to wait for the idle recheck).
local function wake_for_free_slot()
  local meta = redis.call("HMGET", meta_key, "conc", "paused")
  local conc = tonumber(meta[1])
  if conc and not meta[2] and redis.call("ZCARD", active_key) < conc
      and (redis.call("LLEN", waitlist_key) > 0 or redis.call("ZCARD", waiting_key) > 0) then
    redis.call("ZADD", marker_key, 0, "1")
  end
end
