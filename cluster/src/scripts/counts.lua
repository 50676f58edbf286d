-- COUNTS: { now, ready, delayed, active, dead now, done now, live nodes,
--   then the stats hash as field, value pairs ..., then "|" and 64 ready counts by
--   priority, from 0 (LOWEST) to 63 }.
local now = now_ms()
local out = { now,
  redis.call('ZCARD', P .. 'ready'), redis.call('ZCARD', P .. 'delayed'),
  redis.call('ZCARD', P .. 'active'), redis.call('ZCARD', P .. 'dead'),
  redis.call('ZCARD', P .. 'done'), redis.call('ZCOUNT', P .. 'nodes', now, '+inf') }
local stats = redis.call('HGETALL', P .. 'stats')
for _, v in ipairs(stats) do out[#out + 1] = v end
out[#out + 1] = '|'
for pri = 0, 63 do
  local lo = (63 - pri) * LEVEL
  out[#out + 1] = redis.call('ZCOUNT', P .. 'ready', string.format('%d', lo), '(' .. string.format('%d', lo + LEVEL))
end
return out
