--[[
  get_jobs: reads jobs with their state in one consistent snapshot.
  Includes: common
  ARGV[2] mode: "ids" (ARGV[3..] are job ids) or "range" (ARGV[3] state,
  ARGV[4] start, ARGV[5] end, ARGV[6] "1" for newest first; for waiting,
  ranks of the run order across its zset and list, see common)
  Returns a flat list: per job, id, state, then the hash as field/value
  pairs in a nested table.
]]
local ids
local states = {}
if ARGV[2] == "range" then
  local set_key = STATE_KEYS[ARGV[3]]
  if not set_key then return redis.error_reply("bad-state:" .. ARGV[3]) end
  if ARGV[3] == "waiting" then
    ids = waiting_range(tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6] == "1")
  elseif ARGV[6] == "1" then
    ids = redis.call("ZREVRANGE", set_key, ARGV[4], ARGV[5])
  else
    ids = redis.call("ZRANGE", set_key, ARGV[4], ARGV[5])
  end
  for i = 1, #ids do states[i] = ARGV[3] end
else
  ids = {}
  for i = 3, #ARGV do
    ids[#ids + 1] = ARGV[i]
    states[#ids] = state_of(ARGV[i]) or "unknown"
  end
end
local result = {}
for i = 1, #ids do
  local fields = redis.call("HGETALL", job_key(ids[i]))
  if #fields > 0 then
    result[#result + 1] = ids[i]
    result[#result + 1] = states[i]
    result[#result + 1] = fields
  end
end
return result
