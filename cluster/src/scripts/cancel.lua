-- CANCEL job ARGV[1] (events on: ARGV[2]). Returns 1 cancelled (by this call or an earlier
-- one: a cancel is idempotent, so a call retried after its reply was lost still says so),
-- 2 running (a running job is not interrupted), 0 finished otherwise, -1 no such job.
local id, ev = ARGV[1], ARGV[2]
local f = job_fields(id, 'st')
local st = f and f[1]
if not st then return -1 end
if st == 'active' then return 2 end
if st == 'cancelled' then return 1 end
if st ~= 'ready' and st ~= 'delayed' then return 0 end
redis.call('ZREM', P .. st, id)
finish(id, 'cancelled', now_ms(), 'done')
event('cancelled', id, nil, nil, ev)
return 1
