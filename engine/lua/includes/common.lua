--[[
  Shared prelude for every script. The Python loader prepends this file.

  Every script receives the same KEYS, in this order (engine/keys.py):
    KEYS[1]  waiting    zset  score = priority * 2^33 + 2^32 +/- seq
    KEYS[2]  active     zset  score = lease deadline (ms)
    KEYS[3]  delayed    zset  score = due time (ms)
    KEYS[4]  completed  zset  score = finish time (ms)
    KEYS[5]  failed     zset  score = finish time (ms)
    KEYS[6]  pending    zset  score = time added (ms); jobs waiting on dependencies
    KEYS[7]  meta       hash  paused, rate limit, global concurrency
    KEYS[8]  events     stream
    KEYS[9]  marker     zset  wake-up marker that idle workers block on
    KEYS[10] seq        string counter for job ids and FIFO order
    KEYS[11] limiter    zset  job starts of the rate-limit window (score = ms)
    KEYS[12] registry   set   every queue name under the prefix
    KEYS[13] sweep lock string throttles stalled and retention sweeps
  ARGV[1] is always the key prefix of the queue ("messai:{name}:"); job keys
  are derived from it, since their ids are only known inside the script.
]]
-- Bound per call by bind(KEYS, ARGV), which every script runs first: the
-- scripts are loaded as Redis functions, whose top level runs once at load
-- time, so nothing at the top level may read KEYS or ARGV.
local waiting_key, active_key, delayed_key
local completed_key, failed_key, pending_key
local meta_key, events_key, marker_key
local seq_key, limiter_key, registry_key, sweep_key
local prefix
local server_time
local STATE_KEYS

local function bind(keys, argv)
  waiting_key, active_key, delayed_key = keys[1], keys[2], keys[3]
  completed_key, failed_key, pending_key = keys[4], keys[5], keys[6]
  meta_key, events_key, marker_key = keys[7], keys[8], keys[9]
  seq_key, limiter_key, registry_key, sweep_key = keys[10], keys[11], keys[12], keys[13]
  prefix = argv[1]
  server_time = nil
  STATE_KEYS = {
    waiting = waiting_key, active = active_key, delayed = delayed_key,
    completed = completed_key, failed = failed_key, pending = pending_key,
  }
end

local EVENTS_MAXLEN = 10000
local METRICS_TTL_S = 8 * 86400
local PRIORITY_BAND = 8589934592 -- 2^33
local FIFO_BASE = 4294967296 -- 2^32
local DEFAULT_PRIORITY = 5 -- engine/options.py; not stored in the job hash

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

local function job_key(id)
  return prefix .. "job:" .. id
end

local function logs_key(id)
  return prefix .. "job:" .. id .. ":logs"
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

-- Puts a job into `waiting` behind the jobs of its priority (or ahead of
-- them when it was added LIFO, or when `front` is set: a job handed back
-- or recovered from a stall has waited its turn already).
local function enqueue_waiting(id, jk, front)
  local fields = redis.call("HMGET", jk, "pri", "lifo")
  local priority = tonumber(fields[1]) or DEFAULT_PRIORITY
  local score
  if front then
    score = priority * PRIORITY_BAND
  else
    score = waiting_score(priority, redis.call("INCR", seq_key), fields[2] == "1")
  end
  redis.call("ZADD", waiting_key, fmt(score), id)
  redis.call("ZADD", marker_key, 0, "1")
end

local function delete_job(id)
  local jk = job_key(id)
  redis.call("DEL", jk, jk .. ":logs", jk .. ":deps", jk .. ":results")
end

-- Which state set holds the job, or false.
local function state_of(id)
  if redis.call("ZSCORE", waiting_key, id) then return "waiting" end
  if redis.call("ZSCORE", active_key, id) then return "active" end
  if redis.call("ZSCORE", delayed_key, id) then return "delayed" end
  if redis.call("ZSCORE", failed_key, id) then return "failed" end
  if redis.call("ZSCORE", completed_key, id) then return "completed" end
  if redis.call("ZSCORE", pending_key, id) then return "pending" end
  return false
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
