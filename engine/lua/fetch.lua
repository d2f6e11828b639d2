--[[
  fetch: leases up to `want` jobs for a worker (see includes/fetch.lua).
  Includes: common, deps, fetch
  ARGV[1] prefix     the queue's key prefix
  ARGV[2] worker     id of the calling worker
  ARGV[3] lease_ms   how long the leases last without a heartbeat
  ARGV[4] want       jobs to lease (0: only promote due delayed jobs)
  ARGV[5] token      lease token of the jobs leased
  ARGV[6] start_now  how many of them start at once (the rest are prefetched)
  Returns: {status, next_due, now, jobs...}: status "ok", "paused", "busy"
    or "limited:<ms>"; next_due the earliest delayed due time (or -1); each
    job its id, JOB_FIELDS, then its dependencies' results
  Emits: job:waiting, job:active, job:failed, queue:drained
  Writes: delayed, waiting, waiting:list, active, failed, limiter, marker, events, job, seq, keep, logs, deps, results
]]
local now = now_ms()
local result = fetch_jobs(now, ARGV[5], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[6]))
table.insert(result, 3, now)
return result
