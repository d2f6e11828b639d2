--[[
  deliver: applies on this queue what jobs of another queue owe its jobs (a
  chain's next step, a flow's parent): entries of that queue's outbox, on a
  Redis Cluster, where the two queues are in different slots (includes/deps.lua
  post_outbox; engine/outbox.py reads and removes them). Idempotent: an
  entry applied twice changes nothing the second time (a result lands once
  in job:<id>:results and counts once; a failure or a result reaches only a
  pending job; a revive only a job that failed because of that very job,
  JF.DEPENDENCY_FAILED), so a crash between delivering and removing an entry
  neither loses nor doubles a step. What this queue's jobs then owe others
  goes to this queue's outbox in turn.
  Includes: common, retention, deps
  ARGV[1] prefix      the queue's key prefix (the dependents' queue)
  ARGV[2] from_queue  the queue whose jobs owe (the outbox's queue)
  ARGV[3] entries     number of entries that follow
  ARGV[+] entries * (kind, job_id, from_id, value, mode)
          kind r: from_id completed with value (result JSON); f: it failed
          for good with value (the message); v: it was retried
  Returns: {entries that changed something, entries in this queue's outbox}
  Emits: job:failed, job:pending, job:waiting, job:delayed
  Writes: pending, failed, waiting, waiting:list, delayed, seq, marker, events, job, logs, deps, results, outbox, keep
]]
local now = now_ms()
local from_base = base_of(ARGV[2])
local count = tonumber(ARGV[3])
local applied = 0
local doomed = {}
for i = 1, count do
  local at = 4 + (i - 1) * 5
  local kind, id, from_id, value, mode = ARGV[at], ARGV[at + 1], ARGV[at + 2], ARGV[at + 3], ARGV[at + 4]
  local changed = false
  local work = {}
  if kind == "r" then
    changed = settle_dependent(now, prefix, id, from_base, from_id, value, nil, mode, work, doomed)
  elseif kind == "f" then
    changed = settle_dependent(now, prefix, id, from_base, from_id, nil, value, mode, work, doomed)
    for w = 1, #work do
      local item = work[w]
      release_dependents(now, item[1], item[2], item[3], item[4])
    end
  elseif kind == "v" then
    changed = revive_dependent(prefix, id, from_base, from_id, work)
    for w = 1, #work do revive_dependents(work[w][1], work[w][2]) end
  end
  if changed then applied = applied + 1 end
end
for i = 1, #doomed do delete_job_in(doomed[i][1], doomed[i][2]) end
return {applied, redis.call("XLEN", prefix .. "outbox")}
