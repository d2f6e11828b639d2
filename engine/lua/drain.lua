--[[
  drain: removes waiting and delayed jobs, a page per call; active jobs are
  left alone. Includes: common
  ARGV[2] page size
  Returns {removed, remaining}. Emits queue:drained when nothing remains.
]]
local page = tonumber(ARGV[2])
local removed = 0
for _, set_key in ipairs({waiting_key, delayed_key}) do
  if removed < page then
    local ids = redis.call("ZRANGE", set_key, 0, page - removed - 1)
    for i = 1, #ids do delete_job(ids[i]) end
    if #ids > 0 then redis.call("ZREM", set_key, unpack(ids)) end
    removed = removed + #ids
  end
end
local remaining = redis.call("ZCARD", waiting_key) + redis.call("ZCARD", delayed_key)
if remaining == 0 then emit("queue:drained", false, "removed", removed) end
return {removed, remaining}
