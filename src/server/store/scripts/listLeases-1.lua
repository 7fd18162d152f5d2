--[[
  Read-only: unexpired leases with their session's client details, oldest session first.

  Input:
    KEYS[1] sessions zset
    ARGV[1] prefix  ARGV[2] now ms  ARGV[3] feature filter ("" = all)  ARGV[4] max leases

  Output: flat rows of 10: lease_id, session_id, feature, count, client_id, user,
          hostname, pid, granted_ms, expires_ms
]]
local p, now, only, max = ARGV[1], tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[4])
local out, n = {}, 0
for _, sid in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf')) do
  local s = redis.call('HMGET', p .. ':session:' .. sid, 'client_id', 'user', 'hostname', 'pid', 'expires_ms')
  for _, lid in ipairs(redis.call('SMEMBERS', p .. ':session:' .. sid .. ':leases')) do
    local l = redis.call('HMGET', p .. ':lease:' .. lid, 'feature', 'count', 'granted_ms')
    if l[1] and (only == '' or only == l[1]) then
      if n >= max then return out end
      n = n + 1
      for _, v in ipairs({lid, sid, l[1], l[2], s[1] or '', s[2] or '', s[3] or '', s[4] or '0', l[3], s[5] or '0'}) do
        out[#out + 1] = v
      end
    end
  end
end
return out
