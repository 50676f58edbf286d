-- Shared helpers, prepended to every script (scripts.rs joins them).
-- KEYS[1] is the queue's key prefix "kairos:{name}:"; every key of the queue starts
-- with it, so they share one hash tag and one Redis Cluster slot.
local P = KEYS[1]
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
-- Ready-set score: more urgent levels first, FIFO within a level. A level spans 2^46
-- scores (64 levels fill 2^52, below 2^53, so a double holds every score exactly): the
-- order and the counts by level are exact for the first 2^46 (7e13) sequence numbers,
-- 2.2 years at a million jobs a second. Past that a job's score reaches into the next
-- level's range: jobs enqueued close together keep their order; COUNTS shows them a
-- level off.
local LEVEL = 70368744177664
local function ready_score(pri, seq)
  return (63 - pri) * LEVEL + seq
end
local function job_key(id) return P .. 'j:' .. id end
-- A job id as ENQUEUE writes it: no leading zero ("007" would alias job 7) and at most
-- 15 digits (exact as a Lua number, and as a node's u64).
local function is_job_id(id)
  return string.match(id, '^[1-9]%d*$') ~= nil and #id <= 15
end
local function event(ev, id, extra_k, extra_v, on)
  if on == '1' then
    if extra_k then
      redis.call('XADD', P .. 'ev', 'MAXLEN', '~', 10000, '*', 'e', ev, 'id', id, extra_k, extra_v)
    else
      redis.call('XADD', P .. 'ev', 'MAXLEN', '~', 10000, '*', 'e', ev, 'id', id)
    end
  end
end
-- Puts job `id` (hash already written) into the ready set at its priority, behind every
-- job of that level already there. Returns true when the set was empty before.
local function make_ready(id, pri)
  local was_empty = redis.call('ZCARD', P .. 'ready') == 0
  local seq = redis.call('INCR', P .. 'seq')
  redis.call('ZADD', P .. 'ready', ready_score(pri, seq), id)
  redis.call('HSET', job_key(id), 'st', 'ready')
  return was_empty
end
-- Puts job `id` into the delayed set; true when it is now the earliest one.
local function make_delayed(id, due)
  local first = redis.call('ZRANGE', P .. 'delayed', 0, 0, 'WITHSCORES')
  redis.call('ZADD', P .. 'delayed', due, id)
  redis.call('HSET', job_key(id), 'st', 'delayed', 'due', due)
  return first[2] == nil or tonumber(first[2]) > due
end
-- Ends job `id` in a final state kept for retention (`done`) or inspection (`dead`).
local function finish(id, state, now, set)
  redis.call('HSET', job_key(id), 'st', state, 'f', now)
  redis.call('ZADD', P .. set, now, id)
  redis.call('HINCRBY', P .. 'stats', state, 1)
end
-- A wake-up is a hint: a PUBLISH refused (an ACL without the channel) must not fail the
-- script after its writes, so it is a pcall.
local function wake()
  redis.pcall('PUBLISH', P .. 'wake', '1')
end
-- Reads fields of job `id` without failing the script if the key is not a hash (a key
-- overwritten by hand): returns nil then. Every script reads before it writes, so a bad
-- key never stops a batch half way.
local function job_fields(id, ...)
  local f = redis.pcall('HMGET', job_key(id), ...)
  if type(f) == 'table' and f.err then return nil end
  return f
end
-- Calls `cmd key flat[1] flat[2] ...` in chunks of at most 2,000 arguments (Lua's unpack
-- has a hard limit of a few thousand values).
local function call_chunked(cmd, key, flat, step)
  for i = 1, #flat, step do
    redis.call(cmd, key, unpack(flat, i, math.min(i + step - 1, #flat)))
  end
end
local function zadd_all(key, flat) call_chunked('ZADD', key, flat, 2000) end
local function zrem_all(key, ids) call_chunked('ZREM', key, ids, 2000) end
