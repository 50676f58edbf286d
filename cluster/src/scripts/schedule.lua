-- SCHEDULE: register (or replace) recurring schedule ARGV[1], or remove it.
-- ARGV: name, mode ("set" | "del"), then for "set": first tick (epoch ms), spec (JSON),
--   the job template: kind, payload, priority, deadline ("" | "d<ms>"), retry spec;
--   and the most firings ("" for no limit).
-- The schedule's hash `s:<name>` holds the spec, the template and `fired`, the number
-- of firings; `sched-next` holds its next tick; hash `scheds` lists the names. Returns 1 (set, or removed) or 0 (no
-- such schedule to remove).
local name, mode = ARGV[1], ARGV[2]
local h = P .. 's:' .. name
if mode == 'del' then
  redis.call('ZREM', P .. 'sched-next', name)
  redis.call('HDEL', P .. 'scheds', name)
  return redis.call('DEL', h)
end
redis.call('HSET', P .. 'scheds', name, ARGV[5])
redis.call('DEL', h)
redis.call('HSET', h, 'spec', ARGV[4], 'k', ARGV[5], 'p', ARGV[6], 'pr', ARGV[7], 'dl', ARGV[8], 'r', ARGV[9], 'fired', 0)
if ARGV[10] ~= '' then redis.call('HSET', h, 'times', ARGV[10]) end
local first = redis.call('ZRANGE', P .. 'sched-next', 0, 0, 'WITHSCORES')
redis.call('ZADD', P .. 'sched-next', ARGV[3], name)
if first[2] == nil or tonumber(first[2]) > tonumber(ARGV[3]) then wake() end
return 1
