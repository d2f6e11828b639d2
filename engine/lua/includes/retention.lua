--[[
  Retention of finished jobs: trim a finished set by count and by age,
  deleting the job hashes with their entries. Bounded per call; the worker's
  background sweep finishes what one call leaves.
]]
local TRIM_LIMIT = 100

-- keep_count: -1 keeps all, N keeps the newest N; keep_age_ms: -1 keeps all.
local function trim_finished(set_key, now, keep_count, keep_age_ms, limit)
  local removed = 0
  if keep_age_ms >= 0 then
    local old = redis.call("ZRANGEBYSCORE", set_key, "-inf", now - keep_age_ms, "LIMIT", 0, limit)
    for i = 1, #old do
      delete_job(old[i])
      redis.call("ZREM", set_key, old[i])
    end
    removed = removed + #old
  end
  if keep_count >= 0 then
    local over = redis.call("ZCARD", set_key) - keep_count
    if over > 0 then
      if over > limit then over = limit end
      local oldest = redis.call("ZRANGE", set_key, 0, over - 1)
      for i = 1, #oldest do
        delete_job(oldest[i])
      end
      redis.call("ZREMRANGEBYRANK", set_key, 0, over - 1)
      removed = removed + over
    end
  end
  return removed
end

-- The cheap trim that runs on every finish: at most TRIM_LIMIT of the oldest
-- beyond keep_count (-1 keeps any number).
local function trim_by_count(set_key, keep_count)
  if keep_count < 0 then return 0 end
  local over = redis.call("ZCARD", set_key) - keep_count
  if over <= 0 then return 0 end
  if over > TRIM_LIMIT then over = TRIM_LIMIT end
  local oldest = redis.call("ZRANGE", set_key, 0, over - 1)
  for i = 1, #oldest do
    delete_job(oldest[i])
  end
  redis.call("ZREMRANGEBYRANK", set_key, 0, over - 1)
  return over
end
