-- ACK a batch of outcomes from one node, each checked against its fencing token.
-- ARGV: node id, events on ("1"|"0"), keep-done ms, keep-done count, keep-dead ms,
--   keep-dead count, then 5 fields per outcome: id, token (attempt counter, then the
--   serial of the CLAIM call that took it), verdict, data, where verdict is
--   "c" completed (data: result bytes, kept while the record is),
--   "r<ms>" failed, retry after ms (data: error), "r<ms>p<level>" the same at priority
--   level (written into the job), "d" failed for good (data: error),
--   "h" handed back unstarted (data unused).
-- An outcome is refused (0) unless the job is active, held by this node, and its attempt
-- counter and claim serial still equal the token: a node that lost its lease cannot
-- overwrite the work of the node that took the job over, nor a run from before Redis lost
-- its data settle a new job that got the same id. Refusals are counted in stats field `stale`.
-- Then trims finished records past their retention: as many as the call finished, plus
-- up to 100 (50 dead) more, so the kept sets shrink back to their limits under any load.
-- Returns one 1 (applied) or 0 (refused) per outcome.
-- Cost per completed job: one HMGET and one HSET; the sets and counters are written once
-- per call.
local node, ev = ARGV[1], ARGV[2]
local keep_done_ms, keep_done_n = tonumber(ARGV[3]), tonumber(ARGV[4])
local keep_dead_ms, keep_dead_n = tonumber(ARGV[5]), tonumber(ARGV[6])
local now = now_ms()
local out = {}
local notify = false
local counts = {}
local function bump(field) counts[field] = (counts[field] or 0) + 1 end
local left_active, done, dead = {}, {}, {}
for i = 7, #ARGV, 5 do
  local id, token, serial, verdict, data = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]
  local h = job_key(id)
  local f = job_fields(id, 'st', 'a', 'n', 'pr', 'fl', 'hb', 'cs') or {}
  -- The counters are written from what was read (HSET, not HINCRBY): a field that is no
  -- integer cannot make a write fail after earlier outcomes of the batch were applied.
  local failures, handed = (tonumber(f[5]) or 0) + 1, (tonumber(f[6]) or 0) + 1
  -- A priority that is no number still goes back to ready (a nil would fail the script
  -- after earlier outcomes of the batch were applied): CLAIM dead-letters it with why.
  if f[1] ~= 'active' or f[2] ~= token or f[3] ~= node or f[7] ~= serial then
    bump('stale')
    out[#out + 1] = 0
  else
    left_active[#left_active + 1] = id
    local kind = string.sub(verdict, 1, 1)
    if kind == 'c' then
      if data ~= '' then
        redis.call('HSET', h, 'st', 'completed', 'f', now, 'res', data)
      else
        redis.call('HSET', h, 'st', 'completed', 'f', now)
      end
      done[#done + 1] = now
      done[#done + 1] = id
      bump('completed')
      event('completed', id, nil, nil, ev)
    elseif kind == 'r' then
      local delay = tonumber(string.match(verdict, '^r(%d+)')) or 0
      -- "p<level>": the retry policy moves retries to that priority.
      local pri = tonumber(string.match(verdict, 'p(%d+)$'))
      if pri then
        redis.call('HSET', h, 'fl', failures, 'err', data, 'pr', pri)
      else
        redis.call('HSET', h, 'fl', failures, 'err', data)
        pri = tonumber(f[4]) or 0
      end
      bump('retried')
      if delay > 0 then
        if make_delayed(id, now + delay) then notify = true end
      else
        if make_ready(id, pri) then notify = true end
      end
      event('retry', id, 'err', data, ev)
    elseif kind == 'd' then
      redis.call('HSET', h, 'fl', failures, 'st', 'dead', 'f', now, 'err', data)
      dead[#dead + 1] = now
      dead[#dead + 1] = id
      bump('dead')
      event('dead', id, 'err', data, ev)
    else
      redis.call('HSET', h, 'hb', handed)
      if make_ready(id, tonumber(f[4]) or 0) then notify = true end
      bump('handed_back')
    end
    out[#out + 1] = 1
  end
end
zrem_all(P .. 'active', left_active)
zadd_all(P .. 'done', done)
zadd_all(P .. 'dead', dead)
for field, n in pairs(counts) do redis.call('HINCRBY', P .. 'stats', field, n) end

local function trim(set, keep_ms, keep_n, budget)
  local old = redis.call('ZRANGEBYSCORE', P .. set, '-inf', now - keep_ms, 'LIMIT', 0, budget)
  for _, id in ipairs(old) do redis.call('DEL', job_key(id)) end
  zrem_all(P .. set, old)
  budget = budget - #old
  local over = redis.call('ZCARD', P .. set) - keep_n
  if over > 0 and budget > 0 then
    local ids = redis.call('ZRANGE', P .. set, 0, math.min(over, budget) - 1)
    for _, id in ipairs(ids) do redis.call('DEL', job_key(id)) end
    zrem_all(P .. set, ids)
  end
end
trim('done', keep_done_ms, keep_done_n, #done + 100)
trim('dead', keep_dead_ms, keep_dead_n, #dead + 50)
if notify then wake() end
return out
