--[[
  An operator frees one lease by its id alone (AdminService.ReleaseLease, like FlexNet's
  lmremove): the session is read from the lease, inside this one script, so the lease cannot
  change hands between the lookup and the release. The session stays open: the client's next
  heartbeat no longer lists the lease.

  Input:
    KEYS[1] leader key   KEYS[2] sessions zset   KEYS[3] used hash
    ARGV[1] owner (fencing)  ARGV[2] prefix  ARGV[3] lease id
    ARGV[4] released request ids kept per session (RELEASED_REQUEST_IDS_KEPT)
    ARGV[5] now ms (the 'revoke' usage event)

  Output: {} when no such lease is held, else the freed lease:
          {session_id, feature, count, client_id, user, hostname, pid, granted_ms, expires_ms}
  Errors: STALE_EPOCH

  The lease's request id joins the session's released ones (as in releaseSeat), so a late
  retry of that checkout is refused rather than granted again.
]]
--@include fence
--@include sessions
if not holdsLease(KEYS[1], ARGV[1]) then return staleEpoch() end
local p, lid = ARGV[2], ARGV[3]
local l = redis.call('HMGET', p .. ':lease:' .. lid, 'session_id', 'feature', 'count', 'request_id', 'granted_ms')
if not l[1] then return {} end
local sid = l[1]
local s = redis.call('HMGET', p .. ':session:' .. sid, 'client_id', 'user', 'hostname', 'pid', 'expires_ms')
-- A lease whose session hash is gone (never expected) must not bring the hash back to life.
freeLease(p, KEYS[3], sid, lid, {l[2], l[3], l[4]}, s[5] and tonumber(ARGV[4]) or 0)
redis.call('SREM', p .. ':session:' .. sid .. ':leases', lid)
if s[5] then redis.call('HINCRBY', p .. ':session:' .. sid, 'seats', -tonumber(l[3])) end
usageEvent(p, ARGV[5], 'revoke', l[2], l[3], sid, {s[1] or '', s[2] or '', s[3] or ''}, lid)
return {sid, l[2], l[3], s[1] or '', s[2] or '', s[3] or '', s[4] or '0', l[5] or '0', s[5] or '0'}
