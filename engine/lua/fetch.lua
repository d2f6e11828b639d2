--[[
  fetch: leases up to `want` jobs for a worker (see includes/fetch.lua).
  Includes: common, deps, fetch
  ARGV[2] lease token, ARGV[3] worker id, ARGV[4] lease ms, ARGV[5] want,
  ARGV[6] how many of them start at once (the rest are prefetched)
  Returns {status, next_due, now, jobs...}.
]]
local now = now_ms()
local result = fetch_jobs(now, ARGV[2], ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]))
table.insert(result, 3, now)
return result
