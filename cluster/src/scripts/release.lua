-- RELEASE the jobs that a node's CLAIM calls took but whose replies the node never got
-- (its connection failed after Redis ran the call: a lost reply, a read timeout). The
-- node never saw those jobs, so nothing renews their leases: left alone they would wait a
-- whole lease and then count a lost lease against a run that never began.
-- ARGV: node id, then the serials of the unanswered CLAIM calls.
-- Each job still active, held by this node under one of those serials, goes back to
-- ready as if never claimed: its attempt counter is lowered again and no lost lease is
-- counted; it is counted in stats field `handed_back`. Cost: a look at each active job
-- (the sum of the nodes' claim limits at most), on this rare path only.
-- Returns the number of jobs released.
local node = ARGV[1]
local unanswered = {}
for i = 2, #ARGV do unanswered[ARGV[i]] = true end
local notify = false
local released = 0
for _, id in ipairs(redis.call('ZRANGE', P .. 'active', 0, -1)) do
  local f = job_fields(id, 'st', 'n', 'cs', 'a', 'pr')
  if f and f[1] == 'active' and f[2] == node and f[3] and unanswered[f[3]] then
    redis.call('ZREM', P .. 'active', id)
    redis.call('HDEL', job_key(id), 'n', 'cs')
    local attempt = tonumber(f[4])
    if attempt and attempt > 0 then redis.call('HSET', job_key(id), 'a', attempt - 1) end
    if make_ready(id, tonumber(f[5]) or 0) then notify = true end
    released = released + 1
  end
end
if released > 0 then redis.call('HINCRBY', P .. 'stats', 'handed_back', released) end
if notify then wake() end
return released
