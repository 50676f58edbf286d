-- REQUEUE dead jobs: ARGV are ids, or none for every dead job (at most 10,000 a call).
-- Each goes back to ready at its priority with its failure and lost-lease counts reset.
-- Returns how many were requeued. Entries whose key is not a job hash stay dead.
local ids = ARGV
if #ids == 0 then ids = redis.call('ZRANGE', P .. 'dead', 0, 9999) end
local n = 0
local notify = false
-- An entry whose key is not a job hash stays dead: there is nothing to run.
for _, id in ipairs(ids) do
  local f = job_fields(id, 'pr')
  if f and redis.call('ZREM', P .. 'dead', id) == 1 then
    redis.call('HDEL', job_key(id), 'fl', 'lo', 'f')
    if make_ready(id, tonumber(f[1]) or 0) then notify = true end
    n = n + 1
  end
end
if notify then wake() end
return n
