-- REQUEUE dead jobs. ARGV: job ids; or "*" and a rank: the dead set's entries from that
-- rank on, at most 10,000 (the caller goes on from rank + kept while a call looks at
-- 10,000). Each job goes back to ready at its priority, with its failure and lost-lease
-- counts reset and no node named (its last node ran it before it died). An entry that is no job (not a job id, or no job hash with a kind: CLAIM
-- dead-letters such ready-set members) stays dead: there is nothing to run.
-- Returns { requeued, kept: entries looked at that were not requeued }.
local ids = ARGV
if ARGV[1] == '*' then
  local from = tonumber(ARGV[2])
  ids = redis.call('ZRANGE', P .. 'dead', from, from + 9999)
end
local n, kept = 0, 0
local notify = false
for _, id in ipairs(ids) do
  local f = is_job_id(id) and job_fields(id, 'pr', 'k')
  if f and f[2] and redis.call('ZREM', P .. 'dead', id) == 1 then
    redis.call('HDEL', job_key(id), 'fl', 'lo', 'f', 'n', 'cs')
    if make_ready(id, tonumber(f[1]) or 0) then notify = true end
    n = n + 1
  else
    kept = kept + 1
  end
end
if notify then wake() end
return { n, kept }
