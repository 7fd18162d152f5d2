--[[
  Read-only: seats in use per feature, not counting leases of expired sessions that
  no sweep has freed yet. Safe on any node (no fencing: writes nothing).

  Input:
    KEYS[1] sessions zset   KEYS[2] used hash
    ARGV[1] prefix  ARGV[2] now ms

  Output: flat {feature, seats_in_use, ...} for features with seats in use
  Cost grows with the number of expired-but-unswept sessions, not with the total.
]]
local p, now = ARGV[1], tonumber(ARGV[2])
local used = {}
local flat = redis.call('HGETALL', KEYS[2])
for i = 1, #flat, 2 do used[flat[i]] = tonumber(flat[i + 1]) end
for _, sid in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)) do
  for _, lid in ipairs(redis.call('SMEMBERS', p .. ':session:' .. sid .. ':leases')) do
    local l = redis.call('HMGET', p .. ':lease:' .. lid, 'feature', 'count')
    if l[1] and used[l[1]] then used[l[1]] = used[l[1]] - tonumber(l[2]) end
  end
end
local out = {}
for f, n in pairs(used) do
  if n > 0 then
    out[#out + 1] = f
    out[#out + 1] = n
  end
end
return out
