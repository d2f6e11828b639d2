--[[
  reserve_ids: takes `count` numbers of the queue's sequence for job ids
  that a later call adds (add_graph_part): nobody else is given them.
  Includes: common
  ARGV[1] prefix  the queue's key prefix
  ARGV[2] count   how many
  Returns: the first of them (they follow each other)
  Writes: seq
]]
local count = tonumber(ARGV[2])
local last = redis.call("INCRBY", seq_key, count)
return last - count + 1
