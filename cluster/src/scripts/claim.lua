-- CLAIM: one atomic step of a node's fetch loop.
-- ARGV: node id, max jobs, lease ms, max lost leases, events on ("1"|"0"), the node's
--   payload cap (bytes), the serial number of this call on the node (kept in each job
--   taken, field `cs`: with the attempt counter, the job's fencing token; it tells this
--   claim from one of an earlier job with the same id, after Redis lost its data).
-- 1. Reap: every running job whose lease ran out (its node died or stopped renewing)
--    goes back to ready, or to dead once it has lost `max lost` leases.
-- 2. Promote: due delayed jobs move to ready, in due order (FIFO behind their level).
-- 3. Pop the most urgent ready jobs, up to `max`; a job past its start deadline ends
--    expired, a job whose hash is missing or corrupt, or whose payload is over the node's
--    cap (measured in Redis: it is never sent), is dead-lettered with the reason;
--    each job taken gets attempt counter + 1 and the call's serial (its fencing token)
--    and a lease.
-- 4. List recurring schedules whose tick is due (the node fires them, see FIRE).
-- Returns: { now, next wake-up ms (-1 none), ready left, jobs taken, then 7 fields per job:
--   id, token, kind, payload, priority, failures so far, retry spec; then the number
--   of due schedules and a name, tick (ms) pair for each }.
local node, max, lease = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local max_lost, ev, max_payload = tonumber(ARGV[4]), ARGV[5], tonumber(ARGV[6])
local serial = ARGV[7]
local now = now_ms()
local notify = false

local expired = redis.call('ZRANGEBYSCORE', P .. 'active', '-inf', now, 'LIMIT', 0, 1000)
for _, id in ipairs(expired) do
  redis.call('ZREM', P .. 'active', id)
  local h = job_key(id)
  local f = job_fields(id, 'lo', 'pr')
  if not f then
    redis.call('ZADD', P .. 'dead', now, id)
    redis.call('HINCRBY', P .. 'stats', 'dead', 1)
  else
    local lost = (tonumber(f[1]) or 0) + 1
    redis.call('HSET', h, 'lo', lost)
    if lost > max_lost then
      redis.call('HSET', h, 'err', 'lease lost ' .. lost .. ' times: its node crashed or hung each time')
      finish(id, 'dead', now, 'dead')
      event('dead', id, 'err', 'lease lost', ev)
    else
      redis.call('HDEL', h, 'n')
      if make_ready(id, tonumber(f[2]) or 0) then notify = true end
      redis.call('HINCRBY', P .. 'stats', 'recovered', 1)
      event('recovered', id, nil, nil, ev)
    end
  end
end

local due = redis.call('ZRANGEBYSCORE', P .. 'delayed', '-inf', now, 'LIMIT', 0, 1000)
for _, id in ipairs(due) do
  redis.call('ZREM', P .. 'delayed', id)
  local f = job_fields(id, 'pr')
  if f then
    redis.call('HDEL', job_key(id), 'due')
    make_ready(id, tonumber(f[1]) or 0)
  else
    redis.call('ZADD', P .. 'dead', now, id)
    redis.call('HINCRBY', P .. 'stats', 'dead', 1)
  end
end

local out = { now, -1, 0, 0 }
local taken = 0
local leases = {}
while taken < max do
  local popped = redis.call('ZPOPMIN', P .. 'ready', max - taken)
  if #popped == 0 then break end
  for i = 1, #popped, 2 do
    local id = popped[i]
    local h = job_key(id)
    -- The payload's length first (a key that is no hash fails it): a payload over the
    -- cap stays in Redis. Then the fields, the payload among them only if it is read.
    local size = is_job_id(id) and redis.pcall('HSTRLEN', h, 'p')
    local f = nil
    if type(size) == 'number' then
      if size <= max_payload then
        f = job_fields(id, 'k', 'pr', 'dl', 'fl', 'r', 'a', 'p')
      else
        f = job_fields(id, 'k', 'pr', 'dl', 'fl', 'r', 'a')
      end
    end
    local pri = f and tonumber(f[2])
    local payload = f and f[7]
    if not f then
      -- Not a job id, or its key is not a hash: nothing to run or to update. It leaves
      -- the ready set (ZPOPMIN took it) for the dead set, and is counted.
      redis.call('ZADD', P .. 'dead', now, id)
      redis.call('HINCRBY', P .. 'stats', 'dead', 1)
      event('dead', id, 'err', 'corrupt: not a job id, or its key is not a hash', ev)
    elseif size > max_payload then
      local why = 'payload of ' .. size .. ' bytes is over node ' .. node .. "'s cap of " .. max_payload .. ' bytes'
      redis.call('HSET', h, 'err', why)
      finish(id, 'dead', now, 'dead')
      event('dead', id, 'err', why, ev)
    elseif not f[1] or not payload or not pri or pri < 0 or pri > 63 or pri % 1 ~= 0 then
      local why = 'corrupt job hash: '
      if not f[1] then why = why .. 'field k (kind) missing'
      elseif not payload then why = why .. 'field p (payload) missing'
      else why = why .. 'field pr (priority) is not an integer in 0..63' end
      redis.call('HSET', h, 'err', why)
      finish(id, 'dead', now, 'dead')
      event('dead', id, 'err', why, ev)
    elseif f[3] and tonumber(f[3]) and tonumber(f[3]) < now then
      finish(id, 'expired', now, 'done')
      event('expired', id, nil, nil, ev)
    else
      local token = (tonumber(f[6]) or 0) + 1
      redis.call('HSET', h, 'a', token, 'cs', serial, 'st', 'active', 'n', node)
      leases[#leases + 1] = now + lease
      leases[#leases + 1] = id
      out[#out + 1] = id
      out[#out + 1] = token
      out[#out + 1] = f[1]
      out[#out + 1] = payload
      out[#out + 1] = pri
      out[#out + 1] = tonumber(f[4]) or 0
      out[#out + 1] = f[5] or ''
      taken = taken + 1
    end
  end
end
zadd_all(P .. 'active', leases)

-- Recurring schedules whose tick is due: the node computes each one's next tick and
-- fires it (FIRE). Put after the jobs in the reply: a count, then name, tick pairs.
local sched = redis.call('ZRANGEBYSCORE', P .. 'sched-next', '-inf', now, 'WITHSCORES', 'LIMIT', 0, 100)
out[#out + 1] = #sched / 2
for _, v in ipairs(sched) do out[#out + 1] = v end

local nd = redis.call('ZRANGE', P .. 'delayed', 0, 0, 'WITHSCORES')
local na = redis.call('ZRANGE', P .. 'active', 0, 0, 'WITHSCORES')
local next = -1
if nd[2] then next = tonumber(nd[2]) end
if na[2] and (next == -1 or tonumber(na[2]) < next) then next = tonumber(na[2]) end
local ns = redis.call('ZRANGE', P .. 'sched-next', 0, 0, 'WITHSCORES')
if ns[2] and (next == -1 or tonumber(ns[2]) < next) then next = tonumber(ns[2]) end
out[2] = next
out[3] = redis.call('ZCARD', P .. 'ready')
out[4] = taken
if notify then wake() end
return out
