--[[
  Retention of finished jobs: trims of the `completed` and `failed` sets.
  Filing a finished job (file_finished) and the rule format are in common.

  A rule "<count>:<age_ms>" (-1: no limit) keeps a job while it is one of
  the `count` newest jobs of its set and younger than `age_ms`.
    - A job with a rule of its own (remove_on_complete / remove_on_fail) is
      marked (JF.KEEP) and follows only that rule, through its entries in
      keep:<set>:age and keep:<set>:n:<count>: trim_own deletes the jobs
      whose age entry is due, and those of each count's entries that are
      older than the count-th newest job of the set. An entry is checked
      against the job before it acts (the job is still in the set, finished
      at that time, with that rule); the others (the job was retried,
      removed, cleaned) are dropped. Keep-all jobs have no entries.
    - Every other job follows the worker's rule: trim_default walks the set
      from its oldest job, deletes the unmarked ones the rule lets go, passes
      the marked ones, and stops at the first unmarked job it keeps (every
      later job is newer, so kept too). The marked jobs it passed stay
      behind a cursor, keep:<set>:cursor = "<score>:<offset>" (every job
      with a lower score, and the first <offset> with that score, is marked),
      so that a pile of keep-all jobs at the head is walked once, not on
      every call. The cursor lives an hour from its first write: a job that
      lands behind it (Redis's clock stepped back) is met again then.
  Bounded: each trim reads at most `limit` entries of each structure (the
  counts in use are few: one set of their values). finish trims after each
  batch (TRIM_LIMIT), the sweep with its larger limit; what one call leaves,
  the next does.
]]
local TRIM_LIMIT = 100
local CURSOR_TTL_MS = 3600000

-- The rule the job at `jk` is marked with in `set`, or nil (the worker's).
local function marked_rule(jk, set)
  local mark = redis.pcall("HGET", jk, JF.KEEP) -- pcall: a corrupt key is not a hash
  if type(mark) ~= "string" or string.sub(mark, 1, 2) ~= FINISHED_LETTER[set] .. ":" then
    return nil
  end
  return string.sub(mark, 3)
end

-- Deletes the jobs of `doomed` (ids, each once) and their entries in `set_key`.
local function forget(set_key, doomed)
  for i = 1, #doomed do delete_job(doomed[i]) end
  if #doomed > 0 then redis.call("ZREM", set_key, unpack(doomed)) end
end

-- The jobs of `set` without a rule of their own, under the worker's `rule`.
local function trim_default(set, set_key, now, rule, limit)
  local count, age = parse_rule(rule)
  local total = redis.call("ZCARD", set_key)
  local bound = nil -- the newest score that may go
  if count >= 0 and total > count then
    bound = tonumber(redis.call("ZRANGE", set_key, total - count - 1, total - count - 1, "WITHSCORES")[2])
  end
  if age >= 0 and (not bound or now - age > bound) then bound = now - age end
  if not bound then return 0 end
  local cursor_key = keep_key(prefix, set, "cursor")
  local cursor = redis.call("GET", cursor_key)
  local at_score, passed = nil, 0
  local from = "-inf"
  if cursor then
    local score, offset = string.match(cursor, "^(%-?%d+):(%d+)$")
    if score then at_score, passed, from = tonumber(score), tonumber(offset), score end
  end
  local scan = redis.call("ZRANGEBYSCORE", set_key, from, fmt(bound), "WITHSCORES", "LIMIT", passed, limit)
  if #scan == 0 then return 0 end
  local first_rank = redis.call("ZRANK", set_key, scan[1])
  local doomed = {}
  for i = 1, #scan, 2 do
    local id, score = scan[i], tonumber(scan[i + 1])
    if score ~= at_score then at_score, passed = score, 0 end
    local rank = first_rank + (i - 1) / 2
    if marked_rule(job_key(id), set) then
      passed = passed + 1
    elseif (count >= 0 and rank < total - count) or (age >= 0 and score <= now - age) then
      doomed[#doomed + 1] = id
    else
      break
    end
  end
  forget(set_key, doomed)
  local moved = fmt(at_score) .. ":" .. passed
  if not cursor then
    redis.call("SET", cursor_key, moved, "PX", CURSOR_TTL_MS)
  elseif moved ~= cursor then
    redis.call("SET", cursor_key, moved, "KEEPTTL")
  end
  return #doomed
end

-- Whether the entry (`id`, finished at `finished`) of a rule with `count`
-- or `age` is the job's own, current one.
local function current_entry(set, set_key, id, finished, count, age)
  local rule = marked_rule(job_key(id), set)
  local score = redis.call("ZSCORE", set_key, id)
  if not rule or not score or tonumber(score) ~= finished then return false end
  local own_count, own_age = parse_rule(rule)
  return (count == nil or own_count == count) and (age == nil or own_age == age)
end

-- The jobs of `set` with a rule of their own.
local function trim_own(set, set_key, now, limit)
  local doomed, seen = {}, {}
  local function doom(id)
    if not seen[id] then
      seen[id] = true
      doomed[#doomed + 1] = id
    end
  end
  local age_key = keep_key(prefix, set, "age")
  local due = redis.call("ZRANGEBYSCORE", age_key, "-inf", now, "WITHSCORES", "LIMIT", 0, limit)
  local spent = {}
  for i = 1, #due, 2 do
    local id = due[i]
    spent[#spent + 1] = id
    local score = redis.call("ZSCORE", set_key, id)
    if score and current_entry(set, set_key, id, tonumber(score), nil, tonumber(due[i + 1]) - tonumber(score)) then
      doom(id)
    end
  end
  if #spent > 0 then redis.call("ZREM", age_key, unpack(spent)) end
  local counts_key = keep_key(prefix, set, "counts")
  local counts = redis.call("SMEMBERS", counts_key)
  local total = redis.call("ZCARD", set_key)
  for c = 1, #counts do
    local count = tonumber(counts[c])
    local group_key = keep_key(prefix, set, "n:" .. counts[c])
    if total > count then
      -- the newest job beyond the `count` newest
      local last = total - count - 1
      local bound = redis.call("ZRANGE", set_key, last, last, "WITHSCORES")[2]
      local entries = redis.call("ZRANGEBYSCORE", group_key, "-inf", bound, "WITHSCORES", "LIMIT", 0, limit)
      spent = {}
      for i = 1, #entries, 2 do
        local id, finished = entries[i], tonumber(entries[i + 1])
        if not current_entry(set, set_key, id, finished, count, nil) then
          spent[#spent + 1] = id
        elseif finished < tonumber(bound) or redis.call("ZRANK", set_key, id) <= last then
          spent[#spent + 1] = id
          doom(id)
        end
      end
      if #spent > 0 then redis.call("ZREM", group_key, unpack(spent)) end
    end
    if redis.call("EXISTS", group_key) == 0 then redis.call("SREM", counts_key, counts[c]) end
  end
  forget(set_key, doomed)
  return #doomed
end

-- Trims `set` ("completed" or "failed"): its jobs with a rule of their own
-- by that rule, the others by the worker's `rule`. Returns how many went.
local function trim_finished(set, now, rule, limit)
  local set_key = STATE_KEYS[set]
  return trim_own(set, set_key, now, limit) + trim_default(set, set_key, now, rule, limit)
end

-- obliterate: the retention keys of both sets.
local function delete_retention_keys()
  for set in pairs(FINISHED_LETTER) do
    local counts_key = keep_key(prefix, set, "counts")
    local counts = redis.call("SMEMBERS", counts_key)
    for i = 1, #counts do redis.call("DEL", keep_key(prefix, set, "n:" .. counts[i])) end
    redis.call("DEL", counts_key, keep_key(prefix, set, "age"), keep_key(prefix, set, "cursor"))
  end
end
