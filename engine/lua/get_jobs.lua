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
  in no state), then its hash as a nested field/value list, the chunks
  of a long value joined into its field (a corrupt job's ends with
  JF.ERROR "corrupt job: <what>"); error
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
local integer = {}
for f = 1, #INTEGER_FIELDS do integer[INTEGER_FIELDS[f]] = true end
for i = 1, #ids do
  local jk = job_key(ids[i])
  -- One HGETALL per job: a page of the console must cost one command a row.
  -- What check_job would find is read off the reply itself (a key of another
  -- type answers with an error, caught here).
  local stored = redis.pcall("HGETALL", jk)
  local fields = {}
  if type(stored) == "table" and stored.err then
    fields = {JF.ERROR, "corrupt job: its key holds a " .. redis.call("TYPE", jk)["ok"] .. ", not a hash"}
  elseif #stored > 0 then
    stored = join_chunks(stored)
    local problem, named, previous_error = nil, false, nil
    for f = 1, #stored, 2 do
      local field, value = stored[f], stored[f + 1]
      if field == JF.NAME then named = true end
      if field == JF.ERROR then previous_error = value end
      if integer[field] and not string.find(value, "^%-?%d+$") then
        problem = problem or ("field " .. field .. " is not an integer: " .. string.sub(value, 1, 40))
      else
        fields[#fields + 1] = field
        fields[#fields + 1] = value
      end
    end
    if not named then problem = problem or ("no name (field " .. JF.NAME .. ")") end
    -- unless it failed as corrupt already, with the first problem found
    if problem and not string.find(previous_error or "", "^corrupt job: ") then
      fields[#fields + 1] = JF.ERROR
      fields[#fields + 1] = "corrupt job: " .. problem
    end
  end
  if #fields > 0 then
    result[#result + 1] = ids[i]
    result[#result + 1] = states[i]
    result[#result + 1] = fields
  end
end
return result
