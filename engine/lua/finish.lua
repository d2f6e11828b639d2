--[[
  finish: ends a batch of job runs and leases the next jobs, in one round
  trip (the hot path of a busy worker).
  Includes: common, retention, deps, finish, fetch
  ARGV[1] prefix     the queue's key prefix
  ARGV[2] worker     id of the calling worker
  ARGV[3] lease_ms   how long the new leases last without a heartbeat
  ARGV[4] want       jobs to lease after the outcomes are recorded
  ARGV[5] token      lease token of the jobs leased
  ARGV[6] start_now  how many of them start at once (the rest are prefetched)
  ARGV[7] keep_completed  the worker's retention of completed jobs without a rule of their own
  ARGV[8] keep_failed     the same for failed jobs ("<count>:<age_ms>", includes/retention.lua)
  ARGV[9] started    prefetched jobs the worker started since its last call
  ARGV[+] started * (job_id, token)
  ARGV[+] outcomes   runs that ended (see finish_job in includes/finish.lua)
  ARGV[+] outcomes * (job_id, token, kind, value, stack, runtime_ms, delay_ms, keep, keep_logs, attempt, has_dependents)
  Returns: {status, next_due, now, lost_count, lost ids..., jobs...}: the
    fetch's reply (includes/fetch.lua) with the ids whose outcome was refused
    because the worker no longer held their lease
  Emits: job:completed, job:failed, job:retrying, job:cancelled, job:waiting, job:delayed, job:active, queue:drained
  Writes: dedup, active, completed, failed, delayed, waiting, waiting:list, pending, limiter, marker, events, job, logs, results, deps, metrics, seq, keep, outbox
]]
local OUTCOME_WIDTH = 11
local now = now_ms()
local worker, lease_ms, want = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local token, start_now = ARGV[5], tonumber(ARGV[6])
local keep_completed, keep_failed = ARGV[7], ARGV[8]
local at = 10
for _ = 1, tonumber(ARGV[9]) do
  local jk = job_key(ARGV[at])
  if redis.pcall("HGET", jk, JF.TOKEN) == ARGV[at + 1] then -- pcall: a corrupt key fails in finish_job
    redis.call("HSET", jk, JF.RESERVED, "0") -- it runs: a stall from now on counts
  end
  at = at + 2
end
local count = tonumber(ARGV[at])
at = at + 1
local lost = {}
local batch = new_batch()
for _ = 1, count do
  local outcome = finish_job(batch, now, ARGV[at], ARGV[at + 1], ARGV[at + 2], ARGV[at + 3],
    ARGV[at + 4], tonumber(ARGV[at + 5]), tonumber(ARGV[at + 6]), ARGV[at + 7],
    tonumber(ARGV[at + 8]), tonumber(ARGV[at + 9]), ARGV[at + 10] == "1")
  if outcome == "lost" then lost[#lost + 1] = ARGV[at] end
  at = at + OUTCOME_WIDTH
end
finish_batch(batch, now, keep_completed, keep_failed)
local fetched = fetch_jobs(now, token, worker, lease_ms, want, start_now)
if count > #lost then wake_for_free_slot() end
local result = {fetched[1], fetched[2], now, #lost}
for i = 1, #lost do result[#result + 1] = lost[i] end
for i = 3, #fetched do result[#result + 1] = fetched[i] end
return result
