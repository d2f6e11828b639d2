--[[
  progress: records a running job's progress and/or a log line, if the
  caller still holds its lease.
  Includes: common
  ARGV[1] prefix     the queue's key prefix
  ARGV[2] job_id
  ARGV[3] token      the caller's lease token
  ARGV[4] progress   JSON, "" for none
  ARGV[5] line       a log line, "" for none
  ARGV[6] keep_logs  log lines kept (0 = all)
  Returns: "ok", or the error "lost" when the lease is no longer the caller's
  Emits: job:progress
  Writes: job, logs, events
]]
local id = ARGV[2]
local jk = job_key(id)
if redis.call("HGET", jk, JF.TOKEN) ~= ARGV[3] then return redis.error_reply("lost") end
if ARGV[4] ~= "" then
  redis.call("HSET", jk, JF.PROGRESS, ARGV[4])
  emit("job:progress", id, "p", ARGV[4])
end
if ARGV[5] ~= "" then append_log(id, ARGV[5], tonumber(ARGV[6])) end
return "ok"
