--[[
  drain: removes waiting and delayed jobs, a page per call; active jobs are
  left alone; jobs waiting for a drained one fail. Includes: common, deps
  ARGV[2] page size
  Returns {removed, remaining}. Emits queue:drained when nothing remains.
]]
local page = tonumber(ARGV[2])
local removed = delete_jobs_in({waiting_key, waitlist_key, delayed_key}, page, "drained before it ran")
local remaining = waiting_count() + redis.call("ZCARD", delayed_key)
if remaining == 0 then emit("queue:drained", false, "removed", removed) end
return {removed, remaining}
