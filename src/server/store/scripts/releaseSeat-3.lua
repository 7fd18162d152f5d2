--[[
  Release one lease of a session. Releasing a lease that is already gone is not an error.

  Input:
    KEYS[1] leader key   KEYS[2] sessions zset   KEYS[3] used hash
    ARGV[1] owner (fencing)  ARGV[2] prefix  ARGV[3] session id  ARGV[4] lease id  ARGV[5] now ms
    ARGV[6] released request ids kept per session (256: RELEASED_REQUEST_IDS_KEPT)

  Output: {1, feature, waiters queued for the feature} released (recorded as a 'release' usage
          event): the caller serves the queue only when one waits, so a release costs no
          second round trip; {0} no such lease in this session
  Errors: STALE_EPOCH; NOT_FOUND (session unknown or expired)

  The lease's request id stops mapping to it and joins the session's released request ids,
  trimmed to the last ARGV[6], so a late retry of that checkout is refused rather than granted
  again, and the session's request-id records never grow past the seat limit plus ARGV[6].
]]
--@include fence
--@include sessions
if not holdsLease(KEYS[1], ARGV[1]) then return staleEpoch() end
local p, sid, lid, now = ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])
local dead = deadSession(p, KEYS[2], KEYS[3], sid, now, 'nothing left to release')
if dead then return dead end
local l = redis.call('HMGET', p .. ':lease:' .. lid, 'session_id', 'feature', 'count', 'request_id')
if l[1] ~= sid then return {0} end
freeLease(p, KEYS[3], sid, lid, {l[2], l[3], l[4]}, tonumber(ARGV[6]))
usageEvent(p, now, 'release', l[2], l[3], sid, sessionWho(p, sid), lid)
redis.call('SREM', p .. ':session:' .. sid .. ':leases', lid)
redis.call('HINCRBY', p .. ':session:' .. sid, 'seats', -tonumber(l[3]))
return {1, l[2], tonumber(redis.call('HGET', p .. ':queued', l[2]) or '0')}
