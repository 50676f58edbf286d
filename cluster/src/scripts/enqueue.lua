-- ENQUEUE a batch. ARGV: 8 fields per job:
--   kind, payload, priority (0..63), due ("" now | "d<ms>" after | "a<ms>" at, epoch ms),
--   deadline ("" | "d<ms>" | "a<ms>"), retry spec ("" | "base,cap,max,jitter,panic"),
--   idempotency key ("" | key), idempotency window ms.
-- Returns a flat array: id, duplicate (0|1) per job, in order.
-- Cost per job: one HSET (+ GET and SET with a key; a key the batch repeats is read
-- once); the ready and delayed sets get one ZADD per call, the counters one INCRBY each.
local now = now_ms()
local n = #ARGV / 8
-- Every idempotency key is read before anything is written: a key of another type (set
-- by hand) fails the whole call with nothing written, never half a batch (the jobs
-- written before it would hold their keys and never run: a retry finds them duplicates).
-- `taken` maps a key to its job id, and takes the batch's own new keys as it goes.
local taken = {}
for j = 0, n - 1 do
  local idem = ARGV[j * 8 + 7]
  if idem ~= '' and taken[idem] == nil then
    local v = redis.pcall('GET', P .. 'i:' .. idem)
    if type(v) == 'table' and v.err then
      return redis.error_reply('ENQUEUE refused, nothing written: idempotency key ' .. P .. 'i:' .. idem
        .. ' holds a value that is no job id (' .. v.err .. ')')
    end
    taken[idem] = v
  end
end
local out = {}
local ready_was_empty = redis.call('ZCARD', P .. 'ready') == 0
local first = redis.call('ZRANGE', P .. 'delayed', 0, 0, 'WITHSCORES')
local earliest = tonumber(first[2])
-- Ids and ready-order numbers for the whole batch, taken at once (a duplicate leaves
-- its id unused: ids are unique and increasing, not dense).
local id0 = redis.call('INCRBY', P .. 'ids', n) - n
local seq0 = redis.call('INCRBY', P .. 'seq', n) - n
local ready, delayed = {}, {}
local added = 0
local notify = false
local function abs_time(spec)
  if spec == '' then return nil end
  local v = tonumber(string.sub(spec, 2))
  if string.sub(spec, 1, 1) == 'd' then return now + v end
  return v
end
for j = 0, n - 1 do
  local i = j * 8 + 1
  local kind, payload, pri = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2])
  local due, dl = abs_time(ARGV[i + 3]), abs_time(ARGV[i + 4])
  local retry, idem, window = ARGV[i + 5], ARGV[i + 6], ARGV[i + 7]
  local existing = idem ~= '' and taken[idem]
  if existing then
    out[#out + 1] = existing
    out[#out + 1] = 1
  else
    -- '%d', not tostring: a Lua number from 1e14 up prints as "1e+14".
    local id = string.format('%d', id0 + j + 1)
    if idem ~= '' then
      redis.call('SET', P .. 'i:' .. idem, id, 'PX', window)
      taken[idem] = id
    end
    local f = { 'k', kind, 'p', payload, 'pr', pri, 'c', now }
    if dl then f[#f + 1] = 'dl'; f[#f + 1] = dl end
    if retry ~= '' then f[#f + 1] = 'r'; f[#f + 1] = retry end
    if idem ~= '' then f[#f + 1] = 'ik'; f[#f + 1] = idem end
    if due and due > now then
      f[#f + 1] = 'st'; f[#f + 1] = 'delayed'; f[#f + 1] = 'due'; f[#f + 1] = due
      delayed[#delayed + 1] = due
      delayed[#delayed + 1] = id
      if not earliest or due < earliest then
        earliest = due
        notify = true
      end
    else
      f[#f + 1] = 'st'; f[#f + 1] = 'ready'
      ready[#ready + 1] = ready_score(pri, seq0 + j + 1)
      ready[#ready + 1] = id
      if ready_was_empty then notify = true end
    end
    redis.call('HSET', job_key(id), unpack(f))
    added = added + 1
    out[#out + 1] = id
    out[#out + 1] = 0
  end
end
zadd_all(P .. 'ready', ready)
zadd_all(P .. 'delayed', delayed)
if added > 0 then redis.call('HINCRBY', P .. 'stats', 'enqueued', added) end
if notify then wake() end
return out
