-- ACK a batch of outcomes from one node, each checked against its fencing token.
-- ARGV: node id, events on ("1"|"0"), keep-done ms, keep-done count, keep-dead ms,
--   keep-dead count, then 4 fields per outcome: id, token, verdict, data, where verdict is
--   "c" completed (data: result bytes, kept while the record is),
--   "r<ms>" failed, retry after ms (data: error), "d" failed for good (data: error),
--   "h" handed back unstarted (data unused).
-- An outcome is refused (0) unless the job is active, held by this node, and its attempt
-- counter still equals the token: a node that lost its lease cannot overwrite the work of
-- the node that took the job over. Refusals are counted in stats field `stale`.
-- Then trims finished records past their retention (at most 200 per call).
-- Returns one 1 (applied) or 0 (refused) per outcome.
local node, ev = ARGV[1], ARGV[2]
local keep_done_ms, keep_done_n = tonumber(ARGV[3]), tonumber(ARGV[4])
local keep_dead_ms, keep_dead_n = tonumber(ARGV[5]), tonumber(ARGV[6])
local now = now_ms()
local out = {}
local notify = false
for i = 7, #ARGV, 4 do
  local id, token, verdict, data = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  local h = job_key(id)
  local f = redis.call('HMGET', h, 'st', 'a', 'n', 'pr')
  if f[1] ~= 'active' or f[2] ~= token or f[3] ~= node then
    redis.call('HINCRBY', P .. 'stats', 'stale', 1)
    out[#out + 1] = 0
  else
    redis.call('ZREM', P .. 'active', id)
    local kind = string.sub(verdict, 1, 1)
    if kind == 'c' then
      if data ~= '' then redis.call('HSET', h, 'res', data) end
      finish(id, 'completed', now, 'done')
      event('completed', id, nil, nil, ev)
    elseif kind == 'r' then
      local delay = tonumber(string.sub(verdict, 2)) or 0
      redis.call('HINCRBY', h, 'fl', 1)
      redis.call('HSET', h, 'err', data)
      redis.call('HDEL', h, 'n')
      redis.call('HINCRBY', P .. 'stats', 'retried', 1)
      if delay > 0 then
        if make_delayed(id, now + delay) then notify = true end
      else
        if make_ready(id, tonumber(f[4])) then notify = true end
      end
      event('retry', id, 'err', data, ev)
    elseif kind == 'd' then
      redis.call('HINCRBY', h, 'fl', 1)
      redis.call('HSET', h, 'err', data)
      finish(id, 'dead', now, 'dead')
      event('dead', id, 'err', data, ev)
    else
      redis.call('HDEL', h, 'n')
      redis.call('HINCRBY', h, 'hb', 1)
      if make_ready(id, tonumber(f[4])) then notify = true end
      redis.call('HINCRBY', P .. 'stats', 'handed_back', 1)
    end
    out[#out + 1] = 1
  end
end

local function trim(set, keep_ms, keep_n, budget)
  local old = redis.call('ZRANGEBYSCORE', P .. set, '-inf', now - keep_ms, 'LIMIT', 0, budget)
  for _, id in ipairs(old) do
    redis.call('DEL', job_key(id))
    redis.call('ZREM', P .. set, id)
  end
  budget = budget - #old
  local over = redis.call('ZCARD', P .. set) - keep_n
  if over > 0 and budget > 0 then
    local ids = redis.call('ZRANGE', P .. set, 0, math.min(over, budget) - 1)
    for _, id in ipairs(ids) do
      redis.call('DEL', job_key(id))
      redis.call('ZREM', P .. set, id)
    end
  end
end
trim('done', keep_done_ms, keep_done_n, 200)
trim('dead', keep_dead_ms, keep_dead_n, 50)
if notify then wake() end
return out
