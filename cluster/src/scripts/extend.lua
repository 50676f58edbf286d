-- EXTEND the leases of a node's running jobs. ARGV: node id, lease ms, then id, attempt,
-- claim serial triples (the token, see CLAIM). A lease is extended only if the job is
-- still active, held by this node under the same token. Returns one 1 (extended) or 0
-- (lease lost) per job.
local node, lease = ARGV[1], tonumber(ARGV[2])
local now = now_ms()
local out = {}
for i = 3, #ARGV, 3 do
  local id, token, serial = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local f = job_fields(id, 'st', 'a', 'n', 'cs') or {}
  if f[1] == 'active' and f[2] == token and f[3] == node and f[4] == serial then
    redis.call('ZADD', P .. 'active', 'XX', now + lease, id)
    out[#out + 1] = 1
  else
    out[#out + 1] = 0
  end
end
return out
