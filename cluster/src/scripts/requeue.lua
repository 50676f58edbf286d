-- REQUEUE dead jobs: ARGV are ids, or none for every dead job (at most 10,000 a call).
-- Each goes back to ready at its priority with its failure and lost-lease counts reset.
-- Returns how many were requeued.
local ids = ARGV
if #ids == 0 then ids = redis.call('ZRANGE', P .. 'dead', 0, 9999) end
local n = 0
local notify = false
for _, id in ipairs(ids) do
  if redis.call('ZREM', P .. 'dead', id) == 1 then
    local h = job_key(id)
    redis.call('HDEL', h, 'fl', 'lo', 'f')
    if make_ready(id, tonumber(redis.call('HGET', h, 'pr')) or 0) then notify = true end
    n = n + 1
  end
end
if notify then wake() end
return n
