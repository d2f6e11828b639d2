--[[
  add: adds one or many jobs (add_bulk sends a chunk per call).
  Includes: common, add_job
  ARGV[2] queue name (for the registry: the job that begins the queue's
          sequence registers it; obliterate, the only script that takes a
          name out of the registry, deletes the sequence with it)
  ARGV[3] number of jobs, then 7 values per job:
          id ("" for a generated one), name, data JSON, opts JSON ("" when
          default), priority, lifo ("1"/"0"), delay_ms
  Returns a flat list: id, created (1 new, 0 the id existed already), ...
  Emits: job:added (with state waiting or delayed).
]]
local now = now_ms()
local stamp = now_stamp()
local count = tonumber(ARGV[3])
local result = {}
local woke = false
local waiting = new_waiting_batch()
for i = 0, count - 1 do
  local base = 4 + i * 7
  local id, created, began = add_job(now, stamp, ARGV[base], ARGV[base + 1], ARGV[base + 2], ARGV[base + 3],
    tonumber(ARGV[base + 4]), ARGV[base + 5] == "1", tonumber(ARGV[base + 6]), waiting)
  if began then redis.call("SADD", registry_key, ARGV[2]) end
  result[#result + 1] = id
  result[#result + 1] = created
  if created == 1 then woke = true end
end
push_waiting_batch(waiting)
if woke then redis.call("ZADD", marker_key, 0, "1") end
return result
