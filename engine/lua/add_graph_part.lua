--[[
  add_graph_part: adds this queue's jobs of a chain or flow whose jobs are
  in several queues on a Redis Cluster (the others are added by calls on
  their own queues: engine/flows.py). Every id is known beforehand
  (reserve_ids, or the job's own), so a job names the jobs of other queues
  that wait for it and those it waits for. The caller adds jobs before the
  ones they wait for (dependents first, pending), so a crash between two
  calls leaves pending jobs that never run, never a job that runs for a
  dependent that does not exist.
  Includes: common, add_job
  ARGV[1] prefix      the queue's key prefix
  ARGV[2] jobs        number of jobs that follow
  ARGV[+] jobs * (job_id, name, data, options, priority, lifo, delay_ms, dependencies, dependents, children)
          job_id: a number reserve_ids gave out, or a custom id;
          dependencies: how many jobs it waits for;
          dependents: "<queue>|<id>|<mode>" lines (mode fail|ignore), the
          jobs that wait for it; children: "<queue>|<id>" lines, the jobs
          it waits for (JF.CHILDREN)
  Returns: a flat list, per job: id, created (1 new, 0 the id existed);
    error "bad-id:<index>:<why>" and nothing written when a custom id could
    name another key (job_id_problem) or a number was not reserved
  Emits: job:added, job:duplicated
  Writes: seq, job, deps, waiting, waiting:list, delayed, pending, events, marker, registry
]]
local STRIDE = 10
local count = tonumber(ARGV[2])
local reserved = tonumber(redis.call("GET", seq_key)) or 0
for i = 1, count do
  local id = ARGV[3 + (i - 1) * STRIDE]
  if string.find(id, "^%d+$") then
    if tonumber(id) > reserved then return redis.error_reply("bad-id:" .. i .. ":a number not reserved") end
  else
    local problem = job_id_problem(id)
    if id == "" then problem = "empty: every id is given" end
    if problem then return redis.error_reply("bad-id:" .. i .. ":" .. problem) end
  end
end
local now = now_ms()
local stamp = now_stamp()
local queue = string.match(prefix, "{([^}]*)}:$")
local result = {}
for i = 1, count do
  local b = 3 + (i - 1) * STRIDE
  local id, created = add_job_in(prefix, now, stamp, ARGV[b], ARGV[b + 1], ARGV[b + 2], ARGV[b + 3],
    tonumber(ARGV[b + 4]), ARGV[b + 5] == "1", tonumber(ARGV[b + 6]), tonumber(ARGV[b + 7]))
  local jk = job_key(id)
  if ARGV[b + 8] ~= "" then
    redis.call("HSET", jk, JF.HAS_DEPENDENTS, "1")
    for line in string.gmatch(ARGV[b + 8], "[^\n]+") do redis.call("RPUSH", jk .. ":deps", line) end
  end
  if created == 1 and ARGV[b + 9] ~= "" then redis.call("HSET", jk, JF.CHILDREN, ARGV[b + 9]) end
  result[#result + 1] = id
  result[#result + 1] = created
end
if count > 0 then
  redis.call("SADD", registry_key, queue)
  redis.call("ZADD", marker_key, 0, "1")
end
return result
