--[[
  get_jobs: reads jobs with their state in one consistent snapshot: a page
  of one state, or the jobs of given ids.
  Includes: common
  ARGV[1] prefix        the queue's key prefix
  ARGV[2] state         the state to page through; "" reads the jobs of `ids`
  ARGV[3] start         first rank of the page, from 0 (negative: from the end)
  ARGV[4] stop          last rank, inclusive (for waiting, ranks of the run
                        order across its zset and list, see common)
  ARGV[5] newest_first  "1": reverse order
  ARGV[6] ids           number of job ids that follow
  ARGV[+] ids * (id)
  Returns: a flat list, per job that exists: id, state ("unknown": a hash
  in no state), then its hash as a nested field/value list (a corrupt
  job's ends with JF.ERROR "corrupt job: <what>"); error
  "bad-state:<state>"
  Emits: nothing
  Writes: nothing
  Flags: no-writes (runs on a full server and on a read-only replica)
]]
local state, start, stop, newest_first = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5] == "1"
local ids
local states = {}
if state ~= "" then
  local set_key = STATE_KEYS[state]
  if not set_key then return redis.error_reply("bad-state:" .. state) end
  if state == "waiting" then
    ids = waiting_range(start, stop, newest_first)
  elseif newest_first then
    ids = redis.call("ZREVRANGE", set_key, start, stop)
  else
    ids = redis.call("ZRANGE", set_key, start, stop)
  end
  for i = 1, #ids do states[i] = state end
else
  ids = {}
  for i = 7, 6 + tonumber(ARGV[6]) do
    ids[#ids + 1] = ARGV[i]
    states[#ids] = state_of(ARGV[i]) or "unknown"
  end
end
local result = {}
for i = 1, #ids do
  local jk = job_key(ids[i])
  local kind = redis.call("TYPE", jk)["ok"]
  local problem = kind ~= "none" and check_job(jk)
  local fields = {}
  if problem and kind == "hash" then
    -- what can be shown: the fields but integers that are not, then the
    -- error (unless it failed as corrupt already, with the first one found)
    local integer = {}
    for f = 1, #INTEGER_FIELDS do integer[INTEGER_FIELDS[f]] = true end
    local stored = redis.call("HGETALL", jk)
    for f = 1, #stored, 2 do
      if not integer[stored[f]] or string.find(stored[f + 1], "^%-?%d+$") then
        fields[#fields + 1] = stored[f]
        fields[#fields + 1] = stored[f + 1]
      end
    end
    local failed_as_corrupt = string.find(redis.call("HGET", jk, JF.ERROR) or "", "^corrupt job: ")
    if not failed_as_corrupt then
      fields[#fields + 1] = JF.ERROR
      fields[#fields + 1] = "corrupt job: " .. problem
    end
  elseif problem then
    fields = {JF.ERROR, "corrupt job: " .. problem}
  elseif kind == "hash" then
    fields = redis.call("HGETALL", jk)
  end
  if #fields > 0 then
    result[#result + 1] = ids[i]
    result[#result + 1] = states[i]
    result[#result + 1] = fields
  end
end
return result
