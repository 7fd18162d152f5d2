--[[
  Renew a session, and with it every seat it holds (one write, however many seats).

  Input:
    KEYS[1] leader key   KEYS[2] sessions zset   KEYS[3] used hash
    ARGV[1] owner (fencing)  ARGV[2] prefix  ARGV[3] session id  ARGV[4] now ms  ARGV[5] session ttl ms

  Output: {new expires_at_ms, lease ids the session holds} (at most the per-session seat limit)
  Errors: STALE_EPOCH; NOT_FOUND when the session is unknown or already expired
          (an expired one is reclaimed here, freeing its seats).
]]
--@include fence
--@include sessions
if not holdsLease(KEYS[1], ARGV[1]) then return staleEpoch() end
local p, sid, now = ARGV[2], ARGV[3], tonumber(ARGV[4])
local dead = deadSession(p, KEYS[2], KEYS[3], sid, now, 'open a new session')
if dead then return dead end
local expires = now + tonumber(ARGV[5])
redis.call('ZADD', KEYS[2], expires, sid)
redis.call('HSET', p .. ':session:' .. sid, 'expires_ms', expires)
return {expires, redis.call('SMEMBERS', p .. ':session:' .. sid .. ':leases')}
