--[[
  Dependencies between jobs: chains (each step waits for the one before)
  and flows (a parent waits for all its children), across any queues.

  A job with unfinished dependencies waits in its queue's `pending` set;
  its hash counts them in JF.DEPENDENCIES and has JF.HAS_RESULTS = 1 (it will receive their
  results in job:<id>:results, a hash of "<queue>:<id>" -> result JSON). A
  job that others wait for has JF.HAS_DEPENDENTS = 1 and lists them in job:<id>:deps as
  "<queue>|<id>|<mode>": mode "fail" fails the dependent when this job fails
  for good ("dependency <queue>:<id> failed: ..."), mode "ignore" lets it
  run anyway with {"error": ...} as this job's result.
  Keys of other queues are derived from their names here, so scripts that
  touch dependencies are not Redis Cluster safe.
  Each call handles at most DEPENDENTS_LIMIT dependents.
]]
local DEPENDENTS_LIMIT = 20000
-- The key prefix of another queue of this deployment.
local function base_of(queue)
  return (string.match(prefix, "^(.*:){[^}]*}:$") or "") .. "{" .. queue .. "}:"
end

local function queue_of(base)
  return string.match(base, "{([^}]*)}:$")
end

local function emit_in(base, event, id, ...)
  return redis.call("XADD", base .. "events", "MAXLEN", "~", EVENTS_MAXLEN, "*", "ev", event, "id", id, ...)
end

local function enqueue_in(base, id)
  local fields = redis.call("HMGET", base .. "job:" .. id, JF.PRIORITY, JF.LIFO)
  push_waiting(base .. "waiting", base .. WAITLIST_SUFFIX, base .. "seq", id,
    tonumber(fields[1]) or DEFAULT_PRIORITY, fields[2] == "1", false)
  redis.call("ZADD", base .. "marker", 0, "1")
end

-- A job of queue `base` finished: tell everything that waits for it.
-- `failure` is nil when it completed with `result`.
-- A dependent failed that way follows its remove_on_fail.
local function release_dependents(now, base, id, result, failure)
  local work = {{base, id, result, failure}}
  local doomed = {}
  local handled = 0
  while #work > 0 and handled < DEPENDENTS_LIMIT do
    local item = table.remove(work)
    local from_base, from_id, from_result, from_failure = item[1], item[2], item[3], item[4]
    local from_name = queue_of(from_base) .. ":" .. from_id
    local entries = redis.call("LRANGE", from_base .. "job:" .. from_id .. ":deps", 0, DEPENDENTS_LIMIT - 1)
    for i = 1, #entries do
      handled = handled + 1
      local queue, dep_id, mode = string.match(entries[i], "^([^|]*)|(.*)|(%a+)$")
      local dep_base = base_of(queue)
      local dep_key = dep_base .. "job:" .. dep_id
      if redis.call("ZSCORE", dep_base .. "pending", dep_id) then
        if from_failure and mode == "fail" then
          local message = "dependency " .. from_name .. " failed: " .. from_failure
          redis.call("ZREM", dep_base .. "pending", dep_id)
          redis.call("HSET", dep_key, JF.ERROR, message, JF.FINISHED, now,
            JF.DEPENDENCY_FAILED, from_base .. "|" .. from_id)
          redis.call("RPUSH", dep_key .. ":logs", "[not run] " .. message)
          emit_in(dep_base, "job:failed", dep_id, "err", message)
          local failed_set = dep_base .. "failed"
          if file_finished(dep_base, "failed", failed_set, dep_id, now, own_rule_of(dep_key, "failed")) then
            doomed[#doomed + 1] = {dep_base, dep_id} -- after its own dependents read its list
          end
          if redis.call("HGET", dep_key, JF.HAS_DEPENDENTS) then
            work[#work + 1] = {dep_base, dep_id, nil, message}
          end
        else
          local value = from_result
          if from_failure then value = cjson.encode({error = from_failure}) end
          redis.call("HSET", dep_key .. ":results", from_name, value or "null")
          if redis.call("HINCRBY", dep_key, JF.DEPENDENCIES, -1) <= 0 then
            redis.call("ZREM", dep_base .. "pending", dep_id)
            enqueue_in(dep_base, dep_id)
            emit_in(dep_base, "job:waiting", dep_id, "reason", "dependencies done")
          end
        end
      end
    end
  end
  for i = 1, #doomed do delete_job_in(doomed[i][1], doomed[i][2]) end
end

-- A failed job is retried: dependents that failed because of it wait again.
local function revive_dependents(base, id)
  local work = {{base, id}}
  local handled = 0
  while #work > 0 and handled < DEPENDENTS_LIMIT do
    local item = table.remove(work)
    local from_base, from_id = item[1], item[2]
    local entries = redis.call("LRANGE", from_base .. "job:" .. from_id .. ":deps", 0, DEPENDENTS_LIMIT - 1)
    for i = 1, #entries do
      handled = handled + 1
      local queue, dep_id = string.match(entries[i], "^([^|]*)|(.*)|%a+$")
      local dep_base = base_of(queue)
      local dep_key = dep_base .. "job:" .. dep_id
      if redis.call("HGET", dep_key, JF.DEPENDENCY_FAILED) == from_base .. "|" .. from_id
          and redis.call("ZREM", dep_base .. "failed", dep_id) == 1 then
        redis.call("HDEL", dep_key, JF.ERROR, JF.FINISHED, JF.DEPENDENCY_FAILED)
        redis.call("ZADD", dep_base .. "pending", now_ms(), dep_id)
        emit_in(dep_base, "job:pending", dep_id, "reason", "dependency retried")
        if redis.call("HGET", dep_key, JF.HAS_DEPENDENTS) then
          work[#work + 1] = {dep_base, dep_id}
        end
      end
    end
  end
end

-- Deletes up to `page` jobs from the given state keys (zsets, or the
-- waiting list), in order; jobs that others wait for fail them first
-- (`reason`), and each frees its dedup id. Returns how many were deleted.
local function delete_jobs_in(set_keys, page, reason)
  local removed = 0
  local now = nil
  for _, set_key in ipairs(set_keys) do
    if removed < page then
      local ids
      if set_key == waitlist_key then
        ids = redis.call("LPOP", set_key, page - removed) or {}
      else
        ids = redis.call("ZRANGE", set_key, 0, page - removed - 1)
      end
      for i = 1, #ids do
        local fields = redis.call("HMGET", job_key(ids[i]), JF.HAS_DEPENDENTS, JF.DEDUP)
        if fields[1] then
          now = now or now_ms()
          release_dependents(now, prefix, ids[i], nil, reason)
        end
        release_dedup(ids[i], fields[2])
        delete_job(ids[i])
      end
      if #ids > 0 and set_key ~= waitlist_key then redis.call("ZREM", set_key, unpack(ids)) end
      removed = removed + #ids
    end
  end
  return removed
end
