-- FIRE a recurring schedule's tick: enqueue its job once, however many nodes try.
-- ARGV: schedule name, the tick the caller saw due (ms), the tick after it (ms, or -1
-- when the schedule has no more), the firing's jitter (ms, the job is due that much
-- after the tick), events on.
-- Only the caller whose tick still matches `sched-next` enqueues the job and moves the
-- schedule on (or ends it: no next tick, or `times` reached); the others get 0.
-- Returns the new job's id, 0 (another node fired this tick), or -1: the schedule's job
-- template is corrupt, and the schedule ended (the reason is its hash's field `err`).
local name, tick, next, jitter = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
if next >= 0 and next <= tick then
  -- A grid that does not move on would fire the same tick for ever.
  return redis.error_reply('FIRE refused: the next tick (' .. string.format('%d', next)
    .. ') is not after the due one (' .. string.format('%d', tick) .. ')')
end
local cur = redis.call('ZSCORE', P .. 'sched-next', name)
if not cur or tonumber(cur) ~= tick then return 0 end
local h = P .. 's:' .. name
local t = redis.pcall('HMGET', h, 'k', 'p', 'pr', 'dl', 'r', 'times', 'fired')
if t.err then t = {} end
-- The template is checked whole before anything is written: a field that would make a
-- write below fail (set by hand) would have moved the schedule on and left its job
-- half written, never run. A broken schedule ends, with the reason in its `err` field.
local pri, dl = tonumber(t[3]), nil
if t[4] and t[4] ~= '' then dl = tonumber(string.sub(t[4], 2)) end
local why = nil
if not t[1] or not t[2] then why = 'job template missing (fields k, p), or the key is no hash'
elseif not pri or pri < 0 or pri > 63 or pri % 1 ~= 0 then why = 'field pr is not a priority in 0..63'
elseif t[4] and t[4] ~= '' and not dl then why = 'field dl is not a deadline ("d<ms>")'
elseif t[7] and not (string.match(t[7], '^%d+$') and #t[7] <= 18) then why = 'field fired is not a count'
end
if why then
  redis.call('ZREM', P .. 'sched-next', name)
  redis.pcall('HSET', h, 'err', why)
  return -1
end
local fired = redis.call('HINCRBY', h, 'fired', 1)
if next < 0 or (t[6] and tonumber(t[6]) and fired >= tonumber(t[6])) then
  redis.call('ZREM', P .. 'sched-next', name)
else
  redis.call('ZADD', P .. 'sched-next', next, name)
end
local now = now_ms()
local id = string.format('%d', redis.call('INCR', P .. 'ids')) -- not tostring: 1e14 prints as "1e+14"
redis.call('HSET', job_key(id), 'k', t[1], 'p', t[2], 'pr', pri, 'c', now, 'sc', name)
if dl then redis.call('HSET', job_key(id), 'dl', now + dl) end
if t[5] and t[5] ~= '' then redis.call('HSET', job_key(id), 'r', t[5]) end
local notify
if jitter > 0 then
  notify = make_delayed(id, now + jitter)
else
  notify = make_ready(id, pri)
end
redis.call('HINCRBY', P .. 'stats', 'enqueued', 1)
redis.call('HINCRBY', P .. 'stats', 'scheduled', 1)
if notify then wake() end
return tonumber(id)
