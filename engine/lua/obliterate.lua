--[[
  obliterate: deletes every key of the queue, a page of jobs per call.
  Refuses while jobs are active unless forced. Jobs of other queues waiting
  for one of its jobs fail. Includes: common, deps
  ARGV[2] force ("1"), ARGV[3] page size, ARGV[4] queue name,
  ARGV[5] metrics days to delete (comma separated day numbers)
  Returns the number of jobs still left (0 when the queue is gone);
  error "active:<n>" when jobs run and force is off.
]]
local force, page = ARGV[2] == "1", tonumber(ARGV[3])
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
  for day in string.gmatch(ARGV[5], "[^,]+") do
    redis.call("DEL", prefix .. "metrics:" .. day)
  end
  redis.call("SREM", registry_key, ARGV[4])
end
return left
