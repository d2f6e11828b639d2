--[[
  add_graph: adds a set of jobs that depend on each other (a chain, a flow),
  across queues, all at once. Includes: common, add_job, deps
  KEYS as every script (of the first job's queue: it only provides the key
  prefix; jobs name their own queues).
  ARGV[2] number of jobs, then 11 values per job: queue name, id ("" for a
  generated one), name, data JSON, opts JSON, priority, lifo, delay_ms,
  number of dependencies (jobs of this graph it waits for), dependents
  ("" or a comma-separated list of "<index>:<mode>", index 1-based into this
  graph, mode fail|ignore), (unused)
  Returns a flat list: queue, id, created, per job.
  Emits: job:added on each job's queue.
]]
local now = now_ms()
local stamp = now_stamp()
local count = tonumber(ARGV[2])
local ids, bases, result = {}, {}, {}
for i = 1, count do
  local b = 3 + (i - 1) * 11
  local queue = ARGV[b]
  local base = base_of(queue)
  local id, created = add_job_in(base, now, stamp, ARGV[b + 1], ARGV[b + 2], ARGV[b + 3], ARGV[b + 4],
    tonumber(ARGV[b + 5]), ARGV[b + 6] == "1", tonumber(ARGV[b + 7]), tonumber(ARGV[b + 8]))
  ids[i], bases[i] = id, base
  redis.call("SADD", registry_key, queue)
  redis.call("ZADD", base .. "marker", 0, "1")
  result[#result + 1] = queue
  result[#result + 1] = id
  result[#result + 1] = created
end
for i = 1, count do
  local b = 3 + (i - 1) * 11
  local dependents = ARGV[b + 9]
  if dependents ~= "" then
    local key = bases[i] .. "job:" .. ids[i]
    redis.call("HSET", key, "hd", "1")
    for index, mode in string.gmatch(dependents, "(%d+):(%a+)") do
      local j = tonumber(index)
      redis.call("RPUSH", key .. ":deps", ARGV[3 + (j - 1) * 11] .. "|" .. ids[j] .. "|" .. mode)
    end
  end
end
return result
