--[[
  finish: ends a batch of job runs and leases the next jobs, in one round
  trip (the hot path of a busy worker).
  Includes: common, retention, deps, finish, fetch
  ARGV[2] worker id, ARGV[3] lease ms, ARGV[4] want (jobs to fetch),
  ARGV[5] token for the fetched jobs, ARGV[6] how many of them start at once
  (the rest are prefetched), ARGV[7] number of prefetched jobs the worker
  started since its last call, then 2 values each: id, token; then the
  number of outcomes, then 11 values per outcome: id, token, kind, value,
  stack, runtime_ms, delay_ms, keep_count, keep_logs, attempt, has
  dependents ("1"/"")
  Returns {status, next_due, now, lost_count, lost ids..., jobs...}.
]]
local now = now_ms()
local worker = ARGV[2]
local started = tonumber(ARGV[7])
for i = 0, started - 1 do
  local jk = job_key(ARGV[8 + i * 2])
  if redis.call("HGET", jk, "tok") == ARGV[9 + i * 2] then
    redis.call("HSET", jk, "rsv", "0") -- it runs: a stall from now on counts
  end
end
local first = 8 + started * 2
local count = tonumber(ARGV[first])
local lost = {}
local batch = new_batch()
for i = 0, count - 1 do
  local b = first + 1 + i * 11
  local outcome = finish_job(batch, now, ARGV[b], ARGV[b + 1], ARGV[b + 2], ARGV[b + 3],
    ARGV[b + 4], tonumber(ARGV[b + 5]), tonumber(ARGV[b + 6]), tonumber(ARGV[b + 7]),
    tonumber(ARGV[b + 8]), tonumber(ARGV[b + 9]), ARGV[b + 10] == "1")
  if outcome == "lost" then lost[#lost + 1] = ARGV[b] end
end
finish_batch(batch, now)
local fetched = fetch_jobs(now, ARGV[5], worker, tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[6]))
local result = {fetched[1], fetched[2], now, #lost}
for i = 1, #lost do result[#result + 1] = lost[i] end
for i = 3, #fetched do result[#result + 1] = fetched[i] end
return result
