--[[
  drop_ghosts: takes ids whose job hash is gone (ghosts, which get_jobs
  reports when it meets them) out of every state. An id whose hash exists
  (added again since) is left alone. A ghost in the waiting list costs an
  LREM: O(n) in the list's length.
  Includes: common
  ARGV[1] prefix  the queue's key prefix
  ARGV[2] ids     number of ids that follow
  ARGV[+] ids * (id)
  Returns: how many ids were taken out of a state
  Emits: nothing
  Writes: waiting, waiting:list, active, delayed, completed, failed, pending
  Flags: allow-oom (runs on a full server: it frees memory)
]]
local dropped = 0
for i = 3, 2 + tonumber(ARGV[2]) do
  local id = ARGV[i]
  if redis.call("EXISTS", job_key(id)) == 0 then
    local out = redis.call("ZREM", waiting_key, id) + redis.call("ZREM", active_key, id)
      + redis.call("ZREM", delayed_key, id) + redis.call("ZREM", completed_key, id)
      + redis.call("ZREM", failed_key, id) + redis.call("ZREM", pending_key, id)
    if out == 0 then out = redis.call("LREM", waitlist_key, 0, id) end
    if out > 0 then dropped = dropped + 1 end
  end
end
return dropped
