-- FIRE a recurring schedule's tick, once however many nodes try.
-- ARGV: schedule name, the tick the caller saw due (ms), the tick after it (ms, or -1
-- when the schedule is over), then one job in ENQUEUE's 8-field layout.
-- Only the caller whose expected tick still matches `sched-next` enqueues the job and
-- moves the schedule on; the others get 0. Returns the new job id, or 0.
local name, tick, next = ARGV[1], ARGV[2], tonumber(ARGV[3])
local cur = redis.call('ZSCORE', P .. 'sched-next', name)
if not cur or tonumber(cur) ~= tonumber(tick) then return 0 end
if next < 0 then
  redis.call('ZREM', P .. 'sched-next', name)
else
  redis.call('ZADD', P .. 'sched-next', next, name)
end
local now = now_ms()
local kind, payload, pri = ARGV[4], ARGV[5], tonumber(ARGV[6])
local id = tostring(redis.call('INCR', P .. 'ids'))
redis.call('HSET', job_key(id), 'k', kind, 'p', payload, 'pr', pri, 'c', now, 'sc', name)
if ARGV[8] ~= '' then redis.call('HSET', job_key(id), 'dl', now + tonumber(string.sub(ARGV[8], 2))) end
if ARGV[9] ~= '' then redis.call('HSET', job_key(id), 'r', ARGV[9]) end
local notify = make_ready(id, pri)
redis.call('HINCRBY', P .. 'stats', 'enqueued', 1)
redis.call('HINCRBY', P .. 'stats', 'scheduled', 1)
if notify then wake() end
return tonumber(id)
