--[[
  add_graph: adds a set of jobs that depend on each other (a chain, a flow),
  across queues, all at once. Run on the keys of the first job's queue: they
  only provide the deployment's key prefix; jobs name their own queues.
  Includes: common, add_job, deps
  ARGV[1] prefix      the first job's queue's key prefix
  ARGV[2] jobs        number of jobs that follow
  ARGV[+] jobs * (queue, job_id, name, data, options, priority, lifo, delay_ms, dependencies, dependents)
          dependencies: how many jobs of this graph it waits for;
          dependents: "" or "<index>:<mode>,..." (index from 1 into this
          graph's jobs, mode fail|ignore): the jobs that wait for it
  Returns: a flat list, per job: queue, id, created (1 new, 0 the id existed);
    error "bad-id:<index>:<why>" and nothing written when a custom id could
    name another key (job_id_problem)
  Each new job that waits for others lists them in JF.CHILDREN.
  Emits: job:added, job:duplicated (on each job's queue)
  Writes: seq, job, deps, waiting, waiting:list, delayed, pending, events, marker, registry
]]
local STRIDE = 10
for i = 1, tonumber(ARGV[2]) do
  local problem = job_id_problem(ARGV[3 + (i - 1) * STRIDE + 1])
  if problem then return redis.error_reply("bad-id:" .. i .. ":" .. problem) end
end
local now = now_ms()
local added_at = now_micros()
local count = tonumber(ARGV[2])
local ids, bases, result = {}, {}, {}
for i = 1, count do
  local b = 3 + (i - 1) * STRIDE
  local queue = ARGV[b]
  local base = base_of(queue)
  local id, created = add_job_in(base, now, added_at, ARGV[b + 1], ARGV[b + 2], ARGV[b + 3], ARGV[b + 4],
    tonumber(ARGV[b + 5]), ARGV[b + 6] == "1", tonumber(ARGV[b + 7]), tonumber(ARGV[b + 8]))
  ids[i], bases[i] = id, base
  redis.call("SADD", registry_key, queue)
  redis.call("ZADD", base .. "marker", 0, "1")
  result[#result + 1] = queue
  result[#result + 1] = id
  result[#result + 1] = created
end
local children = {} -- per new dependent's index: the "<queue>|<id>" of the jobs it waits for
for i = 1, count do
  local dependents = ARGV[3 + (i - 1) * STRIDE + 9]
  if dependents ~= "" then
    local jk = bases[i] .. "job:" .. ids[i]
    redis.call("HSET", jk, JF.HAS_DEPENDENTS, "1")
    for index, mode in string.gmatch(dependents, "(%d+):(%a+)") do
      local j = tonumber(index)
      redis.call("RPUSH", jk .. ":deps", ARGV[3 + (j - 1) * STRIDE] .. "|" .. ids[j] .. "|" .. mode)
      if result[3 * j] == 1 then
        children[j] = children[j] or {}
        children[j][#children[j] + 1] = ARGV[3 + (i - 1) * STRIDE] .. "|" .. ids[i]
      end
    end
  end
end
for j = 1, count do
  if children[j] then
    redis.call("HSET", bases[j] .. "job:" .. ids[j], JF.CHILDREN, table.concat(children[j], "\n"))
  end
end
return result
