--[[
  add: adds one or many jobs to the queue (add_bulk sends a chunk per call).
  A job whose id exists is left as it is.
  Includes: common, add_job
  ARGV[1] prefix      the queue's key prefix
  ARGV[2] queue_name  for the registry: the job that begins the queue's
                      sequence registers it (obliterate, the only script that
                      takes a name out of the registry, deletes the sequence)
  ARGV[3] jobs        number of jobs that follow
  ARGV[+] jobs * (job_id, name, data, options, priority, lifo, delay_ms, dedup)
          job_id "" takes the next number of the sequence; data JSON;
          options JSON ("" when default); lifo "1" or ""; dedup "" or
          "<mode>:<ttl_ms>:<dedup id>" (see add_deduplicated)
  Returns: a flat list, per job: id, created (1 new, 0 the id existed already,
    2 deduplicated: the id is the job that holds its dedup id);
    error "bad-id:<index>:<why>" (index from 1) and nothing written when a
    custom id could name another key (job_id_problem), "bad-dedup:<index>:<why>"
    when a dedup argument is malformed or its key holds another type
  Emits: job:added, job:duplicated (an id that existed: the job is left as it is), job:deduplicated, job:removed (a job replaced by its dedup id)
  Writes: seq, job, logs, deps, results, waiting, waiting:list, delayed, dedup, events, marker, registry
]]
local PER_JOB = 8
for i = 0, tonumber(ARGV[3]) - 1 do
  local problem = job_id_problem(ARGV[4 + i * PER_JOB])
  if problem then return redis.error_reply("bad-id:" .. (i + 1) .. ":" .. problem) end
  local dedup = ARGV[4 + i * PER_JOB + 7]
  problem = dedup ~= "" and dedup_problem(dedup)
  if problem then return redis.error_reply("bad-dedup:" .. (i + 1) .. ":" .. problem) end
end
local now = now_ms()
local added_at = now_micros()
local queue_name = ARGV[2]
local count = tonumber(ARGV[3])
local result = {}
local woke = false
local waiting = new_waiting_batch()
for i = 0, count - 1 do
  local b = 4 + i * PER_JOB
  local id, created, began
  if ARGV[b + 7] == "" then
    id, created, began = add_job(now, added_at, ARGV[b], ARGV[b + 1], ARGV[b + 2], ARGV[b + 3],
      tonumber(ARGV[b + 4]), ARGV[b + 5] == "1", tonumber(ARGV[b + 6]), waiting)
  else
    id, created, began = add_deduplicated(now, added_at, ARGV[b], ARGV[b + 1], ARGV[b + 2], ARGV[b + 3],
      tonumber(ARGV[b + 4]), ARGV[b + 5] == "1", tonumber(ARGV[b + 6]), waiting, ARGV[b + 7])
  end
  if began then redis.call("SADD", registry_key, queue_name) end
  result[#result + 1] = id
  result[#result + 1] = created
  if created == 1 then woke = true end
end
push_waiting_batch(waiting)
if woke then redis.call("ZADD", marker_key, 0, "1") end
return result
