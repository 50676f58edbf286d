-- HEARTBEAT of node ARGV[1]: alive until now + ARGV[2] ms; ARGV[3] is its description
-- (JSON), kept in hash `nodes-info`. ARGV[4] = "1" removes the node (graceful stop).
-- Drops nodes whose heartbeat ran out. Returns the number of live nodes.
local now = now_ms()
if ARGV[4] == '1' then
  redis.call('ZREM', P .. 'nodes', ARGV[1])
  redis.call('HDEL', P .. 'nodes-info', ARGV[1])
else
  redis.call('ZADD', P .. 'nodes', now + tonumber(ARGV[2]), ARGV[1])
  redis.call('HSET', P .. 'nodes-info', ARGV[1], ARGV[3])
end
local gone = redis.call('ZRANGEBYSCORE', P .. 'nodes', '-inf', now)
for _, n in ipairs(gone) do
  redis.call('ZREM', P .. 'nodes', n)
  redis.call('HDEL', P .. 'nodes-info', n)
end
return redis.call('ZCARD', P .. 'nodes')
