--[[
  get_jobs: reads jobs with their state in one consistent snapshot: a page
  of one state, or the jobs of given ids.
  A page is full: ghosts (ids in the state whose job hash is gone) are
  skipped and the read goes on past `stop` until the page is full, the
  state ends, or GHOST_SCAN_LIMIT ghosts were met. Ghosts met are reported
  for the caller to drop (drop_ghosts: this script writes nothing, so that
  it runs on replicas); the caller then reads on from next_rank less the
  ghosts it dropped.
  Includes: common
  ARGV[1] prefix        the queue's key prefix
  ARGV[2] state         the state to page through; "" reads the jobs of `ids`
  ARGV[3] start         first rank of the page, from 0 (negative: from the end)
  ARGV[4] stop          last rank, inclusive (for waiting, ranks of the run
                        order across its zset and list, see common)
  ARGV[5] newest_first  "1": reverse order
  ARGV[6] ids           number of job ids that follow
  ARGV[+] ids * (id)
  Returns: next_rank (the rank after the last one read, from 0), missing
  (jobs the page still lacks), ended (1: the state has no more), the ghost
  ids met (a list), then per job that exists: id, state ("unknown": a hash
  in no state), then its hash as a nested field/value list, the chunks of
  a long value joined into its field (a corrupt job's ends with JF.ERROR
  "corrupt job: <what>"; JF.CHILDREN is left out); error "bad-state:<state>"
  Emits: nothing
  Writes: nothing
  Flags: no-writes (runs on a full server and on a read-only replica)
]]
local GHOST_SCAN_LIMIT = 1000
local state, start, stop, newest_first = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5] == "1"
local ids, states, hashes, ghosts = {}, {}, {}, {}
local next_rank, missing, ended = 0, 0, 1

-- One HGETALL per job: a page of the console must cost one command a row.
-- An empty reply is a ghost when the id is in a state (a key of another
-- type answers with an error, kept for the loop below).
local function take(id, in_state)
  local stored = redis.pcall("HGETALL", job_key(id))
  if type(stored) == "table" and not stored.err and #stored == 0 then
    if in_state then ghosts[#ghosts + 1] = id end
    return
  end
  ids[#ids + 1] = id
  states[#ids] = in_state or "unknown"
  hashes[#ids] = stored
end

if state ~= "" then
  local set_key = STATE_KEYS[state]
  if not set_key then return redis.error_reply("bad-state:" .. state) end
  local total = state == "waiting" and waiting_count() or redis.call("ZCARD", set_key)
  if start < 0 then start = math.max(total + start, 0) end
  if stop < 0 then stop = total + stop end
  local want = math.max(stop - start + 1, 0)
  next_rank, ended = start, 0
  while #ids < want do
    local n = math.min(want - #ids, want + GHOST_SCAN_LIMIT - (next_rank - start))
    if n <= 0 then break end
    local window
    if state == "waiting" then
      window = waiting_range(next_rank, next_rank + n - 1, newest_first)
    elseif newest_first then
      window = redis.call("ZREVRANGE", set_key, next_rank, next_rank + n - 1)
    else
      window = redis.call("ZRANGE", set_key, next_rank, next_rank + n - 1)
    end
    for i = 1, #window do take(window[i], state) end
    next_rank = next_rank + #window
    if #window < n then
      ended = 1
      break
    end
  end
  missing = want - #ids
else
  for i = 7, 6 + tonumber(ARGV[6]) do take(ARGV[i], state_of(ARGV[i])) end
end
local result = {next_rank, missing, ended, ghosts}
local integer = {}
for f = 1, #INTEGER_FIELDS do integer[INTEGER_FIELDS[f]] = true end
for i = 1, #ids do
  local jk = job_key(ids[i])
  -- What check_job would find is read off the HGETALL reply itself.
  local stored = hashes[i]
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
      elseif field ~= JF.CHILDREN then -- up to a flow's size: not for a page
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
