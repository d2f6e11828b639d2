--[[
  drain: removes waiting and delayed jobs, a page per call; active jobs are
  left alone; jobs waiting for a drained one fail (unless they ignore its
  failure).
  Includes: common, deps
  ARGV[1] prefix  the queue's key prefix
  ARGV[2] page    most jobs to delete in this call
  Returns: {removed, remaining (waiting and delayed jobs left)}
  Emits: queue:drained (when nothing remains), job:failed, job:waiting, job:delayed
  Writes: dedup, waiting, waiting:list, delayed, pending, failed, seq, job, logs, deps, results, events, marker, keep, outbox
  Flags: allow-oom (runs on a full server: it frees memory)
]]
local page = tonumber(ARGV[2])
local removed = delete_jobs_in({waiting_key, waitlist_key, delayed_key}, page, "drained before it ran")
local remaining = waiting_count() + redis.call("ZCARD", delayed_key)
if remaining == 0 then emit("queue:drained", false, "removed", removed) end
return {removed, remaining}
