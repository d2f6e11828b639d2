--[[
  outbox: removes the entries of this queue's outbox that a deliverer has
  applied (deliver.lua on their queues), and hands it the next ones. An
  outbox has one deliverer at a time (a worker after a job with dependents
  ended, the sweep, an admin call), so that entries are applied in the order
  they were written (a failure before the retry that revives). The holder's
  claim lasts hold_ms from its last call; the call that finds nothing left
  ends it, so an entry written meanwhile is seen by that call or finds the
  outbox free.
  Includes: common
  ARGV[1] prefix    the queue's key prefix
  ARGV[2] holder    the deliverer's token
  ARGV[3] hold_ms   how long the claim lasts
  ARGV[4] want      entries to take (0: only remove and let go)
  ARGV[5] acked     entries applied, to remove
  ARGV[+] acked * (entry_id)
  Returns: "busy" (another deliverer holds the outbox; acked entries are
    removed all the same), or a flat list of the next entries, oldest first,
    7 values each: entry id, queue, job id, kind, from id, value, mode;
    empty when none is left (the claim ended)
  Writes: outbox
]]
local outbox = prefix .. "outbox"
local claim = prefix .. "outbox:holder"
local holder, hold_ms, want = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local acked = tonumber(ARGV[5])
if acked > 0 then
  local ids = {}
  for i = 1, acked do ids[i] = ARGV[5 + i] end
  redis.call("XDEL", outbox, unpack(ids))
end
local current = redis.call("GET", claim)
if current and current ~= holder then return "busy" end
local entries = {}
if want > 0 then entries = redis.call("XRANGE", outbox, "-", "+", "COUNT", want) end
if #entries == 0 then
  if current then redis.call("DEL", claim) end
  return {}
end
redis.call("SET", claim, holder, "PX", hold_ms)
local result = {}
for i = 1, #entries do
  local id, fields = entries[i][1], entries[i][2]
  local f = {}
  for j = 1, #fields, 2 do f[fields[j]] = fields[j + 1] end
  result[#result + 1] = id
  result[#result + 1] = f.q or ""
  result[#result + 1] = f.id or ""
  result[#result + 1] = f.k or ""
  result[#result + 1] = f.from or ""
  result[#result + 1] = f.v or ""
  result[#result + 1] = f.m or ""
end
return result
