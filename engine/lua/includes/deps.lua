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
  A job that waits for others lists them in JF.CHILDREN ("<queue>|<id>" a
  line): removing it removes those that have not run (unrun_descendants,
  delete_descendants). A pending job added with a delay (JF.DELAY) goes to
  `delayed` when its last dependency ends, due that delay later.
  Keys of other queues are derived from their names here. On a Redis
  Cluster (on_cluster) a dependent in another queue is not touched: what
  it is owed goes to this queue's outbox (post_outbox), and a deliverer
  applies it on the dependent's queue (deliver.lua, engine/outbox.py).
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

-- A pending job whose dependencies have all finished (at `now`): to
-- delayed when it was added with a delay (it starts that long after the
-- last one ended), else to waiting.
local function enqueue_in(now, base, id)
  local fields = redis.call("HMGET", base .. "job:" .. id, JF.PRIORITY, JF.LIFO, JF.DELAY)
  local delay = tonumber(fields[3]) or 0
  if delay > 0 then
    redis.call("ZADD", base .. "delayed", now + delay, id)
    emit_in(base, "job:delayed", id, "reason", "dependencies done", "delay", delay)
  else
    push_waiting(base .. "waiting", base .. WAITLIST_SUFFIX, base .. "seq", id,
      tonumber(fields[1]) or DEFAULT_PRIORITY, fields[2] == "1", false)
    emit_in(base, "job:waiting", id, "reason", "dependencies done")
  end
  redis.call("ZADD", base .. "marker", 0, "1")
end

-- On a Redis Cluster the scripts get their queue's `registered` set in place
-- of the registry (engine/keys.py script_keys_on); another queue's keys are
-- in another slot there, out of a script's reach.
local function on_cluster()
  return registry_key == prefix .. "registered"
end

-- What job `from_id` of queue `from_base` owes a job of another queue on a
-- Redis Cluster, kept in from_base's outbox (a stream in its slot) until a
-- deliverer has applied it there (deliver.lua) and removed it (outbox.lua).
-- kind: "r" its result (`value` = result JSON), "f" its failure (`value` =
-- the message), "v" it was retried (revive). `mode` is the dependency's.
local function post_outbox(from_base, queue, dep_id, kind, from_id, value, mode)
  redis.call("XADD", from_base .. "outbox", "*", "q", queue, "id", dep_id, "k", kind,
    "from", from_id, "v", value or "", "m", mode or "")
end

-- Job `dep_id` of queue `dep_base` waits (in `mode`) for job `from_id` of
-- queue `from_base`, which completed with `result` (`failure` nil) or failed
-- for good: record it, and run the dependent when it was the last. Does
-- nothing unless the dependent is pending, nor twice for one result (its
-- field in the results hash is new only once): applying it again changes
-- nothing. A dependent failed here is added to `work` when others wait
-- for it, and to `doomed` when its own retention deletes it.
local function settle_dependent(now, dep_base, dep_id, from_base, from_id, result, failure, mode, work, doomed)
  if not redis.call("ZSCORE", dep_base .. "pending", dep_id) then return false end
  local dep_key = dep_base .. "job:" .. dep_id
  local from_name = queue_of(from_base) .. ":" .. from_id
  if failure and mode == "fail" then
    local message = "dependency " .. from_name .. " failed: " .. failure
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
    return true
  end
  local value = result
  if failure then value = cjson.encode({error = failure}) end
  -- HSET answers 1 for a new field: a result applied again only replaces its value
  if redis.call("HSET", dep_key .. ":results", from_name, value or "null") == 1
      and redis.call("HINCRBY", dep_key, JF.DEPENDENCIES, -1) <= 0 then
    redis.call("ZREM", dep_base .. "pending", dep_id)
    enqueue_in(now, dep_base, dep_id)
  end
  return true
end

-- A job of queue `base` finished: tell everything that waits for it.
-- `failure` is nil when it completed with `result`.
-- A dependent failed that way follows its remove_on_fail. On a Redis
-- Cluster a dependent of another queue is told through the outbox.
local function release_dependents(now, base, id, result, failure)
  local work = {{base, id, result, failure}}
  local doomed = {}
  local handled = 0
  local cluster = on_cluster()
  while #work > 0 and handled < DEPENDENTS_LIMIT do
    local item = table.remove(work)
    local from_base, from_id, from_result, from_failure = item[1], item[2], item[3], item[4]
    local entries = redis.call("LRANGE", from_base .. "job:" .. from_id .. ":deps", 0, DEPENDENTS_LIMIT - 1)
    for i = 1, #entries do
      handled = handled + 1
      local queue, dep_id, mode = string.match(entries[i], "^([^|]*)|(.*)|(%a+)$")
      local dep_base = base_of(queue)
      if cluster and dep_base ~= from_base then
        if from_failure then
          post_outbox(from_base, queue, dep_id, "f", from_id, from_failure, mode)
        else
          post_outbox(from_base, queue, dep_id, "r", from_id, from_result, mode)
        end
      else
        settle_dependent(now, dep_base, dep_id, from_base, from_id, from_result, from_failure, mode, work, doomed)
      end
    end
  end
  for i = 1, #doomed do delete_job_in(doomed[i][1], doomed[i][2]) end
end

-- Job `dep_id` of queue `dep_base` failed because job `from_id` of queue
-- `from_base` failed, which is retried: it waits again (added to `work`
-- when others wait for it). Does nothing otherwise, nor twice.
local function revive_dependent(dep_base, dep_id, from_base, from_id, work)
  local dep_key = dep_base .. "job:" .. dep_id
  if redis.call("HGET", dep_key, JF.DEPENDENCY_FAILED) == from_base .. "|" .. from_id
      and redis.call("ZREM", dep_base .. "failed", dep_id) == 1 then
    redis.call("HDEL", dep_key, JF.ERROR, JF.FINISHED, JF.DEPENDENCY_FAILED)
    redis.call("ZADD", dep_base .. "pending", now_ms(), dep_id)
    emit_in(dep_base, "job:pending", dep_id, "reason", "dependency retried")
    if redis.call("HGET", dep_key, JF.HAS_DEPENDENTS) then
      work[#work + 1] = {dep_base, dep_id}
    end
    return true
  end
  return false
end

-- A failed job is retried: dependents that failed because of it wait again.
local function revive_dependents(base, id)
  local work = {{base, id}}
  local handled = 0
  local cluster = on_cluster()
  while #work > 0 and handled < DEPENDENTS_LIMIT do
    local item = table.remove(work)
    local from_base, from_id = item[1], item[2]
    local entries = redis.call("LRANGE", from_base .. "job:" .. from_id .. ":deps", 0, DEPENDENTS_LIMIT - 1)
    for i = 1, #entries do
      handled = handled + 1
      local queue, dep_id = string.match(entries[i], "^([^|]*)|(.*)|%a+$")
      local dep_base = base_of(queue)
      if cluster and dep_base ~= from_base then
        post_outbox(from_base, queue, dep_id, "v", from_id, "", "")
      else
        revive_dependent(dep_base, dep_id, from_base, from_id, work)
      end
    end
  end
end

-- A job of this queue is deleted before it ran: the jobs that wait for it
-- fail with `reason`, or run without it when they ignore its failure.
-- Call it before delete_job (it reads the job's dependents).
local function release_deleted(id, reason)
  if redis.call("HGET", job_key(id), JF.HAS_DEPENDENTS) then
    release_dependents(now_ms(), prefix, id, nil, reason)
  end
end

-- The jobs that `id` (of queue `base`) waits for, and theirs, however deep
-- (a flow's descendants, a chain's earlier steps), that have not run: a
-- list of {base, id, state}. Finished ones stay (they are history). Reads
-- only. Returns nil and "<queue>:<id>" when one of them is active. On a
-- Redis Cluster those in other queues are out of reach: the third value
-- lists them ("<queue>|<id>"), for the caller to remove on their queues.
local function unrun_descendants(base, id)
  local found = {}
  local elsewhere = {}
  local cluster = on_cluster()
  local work = {{base, id}}
  local handled = 0
  while #work > 0 and handled < DEPENDENTS_LIMIT do
    local item = table.remove(work)
    local children = redis.pcall("HGET", item[1] .. "job:" .. item[2], JF.CHILDREN)
    if type(children) == "string" then
      for entry in string.gmatch(children, "[^\n]+") do
        handled = handled + 1
        local queue, child = string.match(entry, "^([^|]*)|(.*)$")
        local child_base = base_of(queue)
        if cluster and child_base ~= base then
          elsewhere[#elsewhere + 1] = entry
        else
          if redis.call("ZSCORE", child_base .. "active", child) then return nil, queue .. ":" .. child end
          local state = nil
          for _, unrun in ipairs({"pending", "waiting", "delayed"}) do
            if not state and redis.call("ZSCORE", child_base .. unrun, child) then state = unrun end
          end
          if not state and not redis.call("ZSCORE", child_base .. "completed", child)
              and not redis.call("ZSCORE", child_base .. "failed", child)
              and redis.call("EXISTS", child_base .. "job:" .. child) == 1 then
            state = "waiting" -- in the list (or in no state: deleted all the same)
          end
          if state then found[#found + 1] = {child_base, child, state} end
          work[#work + 1] = {child_base, child}
        end
      end
    end
  end
  return found, nil, elsewhere
end

-- Deletes the jobs unrun_descendants found, each with a job:removed event
-- on its queue that names `root` ("<queue>:<id>", removed with them).
local function delete_descendants(found, root)
  for i = 1, #found do
    local base, id, state = found[i][1], found[i][2], found[i][3]
    local out = redis.call("ZREM", base .. "pending", id) + redis.call("ZREM", base .. "waiting", id)
      + redis.call("ZREM", base .. "delayed", id)
    if out == 0 then redis.call("LREM", base .. WAITLIST_SUFFIX, 1, id) end
    delete_job(id, base)
    emit_in(base, "job:removed", id, "state", state, "with", root)
  end
end

-- Deletes up to `page` jobs from the given state keys (zsets, or the
-- waiting list), in order; jobs that others wait for fail them first
-- (`reason`), and each frees its dedup id. Returns how many were deleted.
local function delete_jobs_in(set_keys, page, reason)
  local removed = 0
  for _, set_key in ipairs(set_keys) do
    if removed < page then
      local ids
      if set_key == waitlist_key then
        ids = redis.call("LPOP", set_key, page - removed) or {}
      else
        ids = redis.call("ZRANGE", set_key, 0, page - removed - 1)
      end
      for i = 1, #ids do
        release_deleted(ids[i], reason)
        release_dedup(ids[i], redis.call("HGET", job_key(ids[i]), JF.DEDUP))
        delete_job(ids[i])
      end
      if #ids > 0 and set_key ~= waitlist_key then redis.call("ZREM", set_key, unpack(ids)) end
      removed = removed + #ids
    end
  end
  return removed
end
