--[[
  progress: records a running job's progress and/or a log line, if the
  caller still holds its lease. Includes: common
  ARGV[2] job id, ARGV[3] token, ARGV[4] progress JSON ("" for none),
  ARGV[5] log line ("" for none), ARGV[6] log lines kept (0 = all)
  Returns "ok" or error "lost". Emits: job:progress.
]]
local id = ARGV[2]
local jk = job_key(id)
if redis.call("HGET", jk, "tok") ~= ARGV[3] then return redis.error_reply("lost") end
if ARGV[4] ~= "" then
  redis.call("HSET", jk, "p", ARGV[4])
  emit("job:progress", id, "p", ARGV[4])
end
if ARGV[5] ~= "" then append_log(id, ARGV[5], tonumber(ARGV[6])) end
return "ok"
