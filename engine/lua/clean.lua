--[[
  clean: deletes jobs of one state older than a grace period, a page per
  call. Finished sets are ordered by finish time; for waiting and delayed
  the job's creation time decides, scanning from `offset` (waiting: a rank
  of the run order across its zset and list). Jobs waiting for a waiting
  or delayed job it deletes fail (unless they ignore its failure), as
  drain does.
  Includes: common, deps
  ARGV[1] prefix    the queue's key prefix
  ARGV[2] state     waiting, delayed, completed or failed
  ARGV[3] grace_ms  only jobs older than this go
  ARGV[4] page      most jobs to delete in this call
  ARGV[5] offset    where the scan of waiting or delayed goes on (0 first)
  Returns: {removed, next_offset (-1 when done)}; error "bad-state:<state>"
  Emits: queue:cleaned, job:failed, job:waiting, job:delayed
  Writes: dedup, waiting, waiting:list, delayed, completed, failed, pending, seq, job, logs, deps, results, events, marker, keep, outbox
  Flags: allow-oom (runs on a full server: it frees memory)
]]
local LIST_TOMBSTONE = "\0 removed" -- no job id holds a space
local state, grace, page, offset = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local set_key = STATE_KEYS[state]
if not set_key or state == "active" then return redis.error_reply("bad-state:" .. state) end
local cutoff = now_ms() - grace
local removed, next_offset = 0, -1
if state == "completed" or state == "failed" then
  local ids = redis.call("ZRANGEBYSCORE", set_key, "-inf", cutoff, "LIMIT", 0, page)
  for i = 1, #ids do delete_job(ids[i]) end
  if #ids > 0 then redis.call("ZREM", set_key, unpack(ids)) end
  removed = #ids
  if #ids == page then next_offset = 0 end
else
  local ids, at
  if state == "waiting" then
    ids, at = waiting_range(offset, offset + page - 1, false)
  else
    ids, at = redis.call("ZRANGE", set_key, offset, offset + page - 1), {}
  end
  local doomed, listed, deleted, dedups = {}, 0, {}, {}
  for i = 1, #ids do
    local fields = redis.call("HMGET", job_key(ids[i]), JF.CREATED, JF.DEDUP)
    -- to the millisecond, as `now`: a job added in this millisecond is 0 ms old
    if math.floor(stamp_ms(fields[1] or "0") or 0) <= cutoff then
      deleted[#deleted + 1] = ids[i]
      dedups[#deleted] = fields[2] or false
      if at[i] then
        -- marked in place, then one LREM removes the marks: one pass over the
        -- list up to the window instead of one per job
        redis.call("LSET", waitlist_key, at[i], LIST_TOMBSTONE)
        listed = listed + 1
      else
        doomed[#doomed + 1] = ids[i]
      end
    end
  end
  if #doomed > 0 then redis.call("ZREM", set_key, unpack(doomed)) end
  if listed > 0 then redis.call("LREM", waitlist_key, listed, LIST_TOMBSTONE) end
  -- after the list's marks: a released dependent may be pushed to the list
  for i = 1, #deleted do
    release_deleted(deleted[i], "cleaned before it ran")
    release_dedup(deleted[i], dedups[i] or nil)
    delete_job(deleted[i])
  end
  removed = #doomed + listed
  if #ids == page then next_offset = offset + page - removed end
end
if removed > 0 then emit("queue:cleaned", false, "state", state, "removed", removed) end
return {removed, next_offset}
