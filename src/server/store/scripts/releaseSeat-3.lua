--[[
  Release one lease of a session. Releasing a lease that is already gone is not an error.

  Input:
    KEYS[1] leader key   KEYS[2] sessions zset   KEYS[3] used hash
    ARGV[1] owner (fencing)  ARGV[2] prefix  ARGV[3] session id  ARGV[4] lease id  ARGV[5] now ms

  Output: 1 released, 0 no such lease in this session
  Errors: STALE_EPOCH; NOT_FOUND (session unknown or expired)
]]
--@include fence
--@include sessions
if not holdsLease(KEYS[1], ARGV[1]) then return staleEpoch() end
local p, sid, lid, now = ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])
local dead = deadSession(p, KEYS[2], KEYS[3], sid, now, 'nothing left to release')
if dead then return dead end
local leaseKey = p .. ':lease:' .. lid
local l = redis.call('HMGET', leaseKey, 'session_id', 'feature', 'count')
if l[1] ~= sid then return 0 end
local left = redis.call('HINCRBY', KEYS[3], l[2], -tonumber(l[3]))
if left <= 0 then redis.call('HDEL', KEYS[3], l[2]) end
redis.call('DEL', leaseKey)
redis.call('SREM', p .. ':session:' .. sid .. ':leases', lid)
redis.call('HINCRBY', p .. ':session:' .. sid, 'seats', -tonumber(l[3]))
return 1
