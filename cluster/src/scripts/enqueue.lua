-- ENQUEUE a batch. ARGV: 8 fields per job:
--   kind, payload, priority (0..63), due ("" now | "d<ms>" after | "a<ms>" at, epoch ms),
--   deadline ("" | "d<ms>" | "a<ms>"), retry spec ("" | "base,cap,max,jitter,panic"),
--   idempotency key ("" | key), idempotency window ms.
-- Returns a flat array: id, duplicate (0|1) per job, in order.
local now = now_ms()
local out = {}
local notify = false
local function abs_time(spec)
  if spec == '' then return nil end
  local v = tonumber(string.sub(spec, 2))
  if string.sub(spec, 1, 1) == 'd' then return now + v end
  return v
end
for i = 1, #ARGV, 8 do
  local kind, payload, pri = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2])
  local due, dl = abs_time(ARGV[i + 3]), abs_time(ARGV[i + 4])
  local retry, idem, window = ARGV[i + 5], ARGV[i + 6], ARGV[i + 7]
  local existing = false
  if idem ~= '' then existing = redis.call('GET', P .. 'i:' .. idem) end
  if existing then
    out[#out + 1] = existing
    out[#out + 1] = 1
  else
    local id = tostring(redis.call('INCR', P .. 'ids'))
    if idem ~= '' then redis.call('SET', P .. 'i:' .. idem, id, 'PX', window) end
    local h = job_key(id)
    redis.call('HSET', h, 'k', kind, 'p', payload, 'pr', pri, 'c', now)
    if dl then redis.call('HSET', h, 'dl', dl) end
    if retry ~= '' then redis.call('HSET', h, 'r', retry) end
    if idem ~= '' then redis.call('HSET', h, 'ik', idem) end
    if due and due > now then
      if make_delayed(id, due) then notify = true end
    else
      if make_ready(id, pri) then notify = true end
    end
    redis.call('HINCRBY', P .. 'stats', 'enqueued', 1)
    out[#out + 1] = id
    out[#out + 1] = 0
  end
end
if notify then wake() end
return out
