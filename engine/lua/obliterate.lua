--[[
  obliterate: deletes every key of the queue, a page of jobs per call.
  Refuses while jobs are active unless forced. Jobs of other queues waiting
  for one of its jobs fail (unless they ignore its failure).
  Includes: common, deps, retention
  ARGV[1] prefix        the queue's key prefix
  ARGV[2] force         "1": go on while jobs are active
  ARGV[3] page          most jobs to delete in this call
  ARGV[4] queue_name    taken out of the registry with the last key
  ARGV[5] metrics_days  number of days that follow
  ARGV[+] metrics_days * (day)
          day numbers (since the epoch) whose metrics hashes go with the last key
  Returns: the number of jobs still left (0: the queue is gone); error
  "active:<n>" when jobs are active and force is off
  Emits: job:failed, job:waiting, job:delayed (on other queues, for jobs that waited for its jobs)
  Writes: dedup, waiting, waiting:list, active, delayed, completed, failed, pending, meta, events, marker, seq, limiter, sweep, registry, metrics, job, logs, deps, results, keep, outbox
  Flags: allow-oom (runs on a full server: it frees memory)
]]
local force, page, queue_name = ARGV[2] == "1", tonumber(ARGV[3]), ARGV[4]
if not force then
  local active = redis.call("ZCARD", active_key)
  if active > 0 then return redis.error_reply("active:" .. active) end
end
local all_sets = {waiting_key, waitlist_key, delayed_key, pending_key, active_key, failed_key,
  completed_key}
delete_jobs_in(all_sets, page, "its queue was obliterated")
local left = 0
for _, set_key in ipairs(all_sets) do
  left = left + size_of(set_key)
end
if left == 0 then
  redis.call("DEL", waiting_key, waitlist_key, active_key, delayed_key, completed_key, failed_key,
    pending_key, meta_key, events_key, marker_key, seq_key, limiter_key, sweep_key)
  delete_retention_keys()
  for i = 6, 5 + tonumber(ARGV[5]) do
    redis.call("DEL", prefix .. "metrics:" .. ARGV[i])
  end
  redis.call("SREM", registry_key, queue_name)
end
return left
