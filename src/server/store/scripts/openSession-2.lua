--[[
  Open a client session.

  Input:
    KEYS[1] leader key           KEYS[2] sessions zset
    ARGV[1] owner <node>:<epoch> (fencing)
    ARGV[2] key prefix {lic:<c>} ARGV[3] session id   ARGV[4] now ms   ARGV[5] session ttl ms
    ARGV[6] client_id  ARGV[7] user  ARGV[8] hostname  ARGV[9] pid
    ARGV[10] max open sessions per client id

  Output: expires_at_ms
  Errors: STALE_EPOCH; LIMIT_EXCEEDED (the client id has too many open sessions)
  Cost: a fixed number of commands; only a client id at its limit has its own sessions
  checked, and its expired ones reaped (at most the limit), so expired sessions never count.
]]
--@include fence
--@include sessions
if not holdsLease(KEYS[1], ARGV[1]) then return staleEpoch() end
local p, sid, now = ARGV[2], ARGV[3], tonumber(ARGV[4])
local expires = now + tonumber(ARGV[5])
local clientKey = p .. ':client:' .. ARGV[6]
local limit = tonumber(ARGV[10])
local open = redis.call('SCARD', clientKey)
if open >= limit then
  for _, other in ipairs(redis.call('SMEMBERS', clientKey)) do
    local score = redis.call('ZSCORE', KEYS[2], other)
    if not score then
      redis.call('SREM', clientKey, other)
    elseif tonumber(score) <= now then
      dropSession(p, KEYS[2], p .. ':used', other, now, 'expire')
    end
  end
  open = redis.call('SCARD', clientKey)
end
if open >= limit then
  return redis.error_reply('LIMIT_EXCEEDED client_id ' .. ARGV[6] .. ' already has ' .. open .. ' open sessions (limit ' .. ARGV[10] .. '); close unused sessions or reuse one')
end
redis.call('SADD', clientKey, sid)
redis.call('HSET', p .. ':session:' .. sid, 'client_id', ARGV[6], 'user', ARGV[7], 'hostname', ARGV[8],
  'pid', ARGV[9], 'created_ms', now, 'expires_ms', expires)
redis.call('ZADD', KEYS[2], expires, sid)
return expires
