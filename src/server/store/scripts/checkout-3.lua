--[[
  Grant seats of a feature to a session: fencing check, the session, its request id, then
  count and grant or refuse. Idempotent by request id.

  Input:
    KEYS[1] leader key   KEYS[2] sessions zset   KEYS[3] used hash
    ARGV[1] owner (fencing)   ARGV[2] prefix   ARGV[3] session id   ARGV[4] now ms
    ARGV[5] session ttl ms    ARGV[6] feature  ARGV[7] count        ARGV[8] seats licensed
    ARGV[9] request id ("" = not idempotent)  ARGV[10] new lease id
    ARGV[11] reclaim limit: expired sessions freed (oldest first) when, and only when, the
             feature has too few free seats
    ARGV[12] max seats per session

  Output: {lease_id, count, expires_at_ms, reused (0|1), seats_in_use_after}
  Usage events: 'grant' for a new lease; 'deny' (reason SEATS_EXHAUSTED or LIMIT_EXCEEDED) for
  a refusal for lack of seats or over the per-session limit.
  Errors: STALE_EPOCH; NOT_FOUND (session unknown/expired);
          SEATS_EXHAUSTED <in_use> (not enough free seats now);
          LIMIT_EXCEEDED (the session would hold more seats than allowed);
          INVALID_ARGUMENT (request id reused for another feature or count);
          FAILED_PRECONDITION (request id already used for a lease since released).

  Request ids: one whose lease is still held answers that lease; one whose lease was released
  is refused (FAILED_PRECONDITION) while it is among the session's last 256 released request
  ids (includes/sessions.lua), so a late retry never takes a second seat; an older one is
  forgotten and counts as a new request. Live ones are bounded by the per-session seat limit.

  Cost: a fixed number of commands while the feature has free seats. Seats of expired sessions
  count until they are reaped (the leader's sweep); only a checkout that finds too few free
  seats reaps, at most ARGV[11] sessions, and counts again.

  Invariant: the sum of counts of the leases of a feature not yet freed never exceeds its seats.
]]
--@include fence
--@include sessions
if not holdsLease(KEYS[1], ARGV[1]) then return staleEpoch() end
local p, sid, now, ttl = ARGV[2], ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5])
local feature, count, seats, rid, lid = ARGV[6], tonumber(ARGV[7]), tonumber(ARGV[8]), ARGV[9], ARGV[10]

local dead = deadSession(p, KEYS[2], KEYS[3], sid, now, 'open a new session')
if dead then return dead end

local sessionKey = p .. ':session:' .. sid
local reqsKey = sessionKey .. ':reqs'
local expires = now + ttl

if rid ~= '' then
  local prev = redis.call('HGET', reqsKey, rid)
  if prev then
    local l = redis.call('HMGET', p .. ':lease:' .. prev, 'feature', 'count')
    if not l[1] then
      -- Only a lease freed before request ids were dropped on release leaves its id here.
      return redis.error_reply('FAILED_PRECONDITION request_id ' .. rid .. ' was used for lease ' .. prev .. ', which has been released; use a new request_id')
    end
    if l[1] ~= feature or tonumber(l[2]) ~= count then
      return redis.error_reply('INVALID_ARGUMENT request_id ' .. rid .. ' was already used for ' .. l[2] .. ' seat(s) of ' .. l[1])
    end
    redis.call('ZADD', KEYS[2], expires, sid)
    redis.call('HSET', sessionKey, 'expires_ms', expires)
    return {prev, count, expires, 1, tonumber(redis.call('HGET', KEYS[3], feature) or '0')}
  end
  if redis.call('ZSCORE', sessionKey .. ':released', rid) then
    return redis.error_reply('FAILED_PRECONDITION request_id ' .. rid .. ' was used for a lease of this session that has been released; use a new request_id')
  end
end

local held = tonumber(redis.call('HGET', sessionKey, 'seats') or '0')
if held + count > tonumber(ARGV[12]) then
  usageEvent(p, now, 'deny', feature, count, sid, sessionWho(p, sid), nil, 'LIMIT_EXCEEDED')
  return redis.error_reply('LIMIT_EXCEEDED session ' .. sid .. ' holds ' .. held .. ' seat(s); ' .. count .. ' more would pass the limit of ' .. ARGV[12] .. ' per session')
end

local used = tonumber(redis.call('HGET', KEYS[3], feature) or '0')
if used + count > seats then
  -- Some of those seats may belong to expired sessions the sweep has not reaped yet.
  reclaimExpired(p, KEYS[2], KEYS[3], now, tonumber(ARGV[11]))
  used = tonumber(redis.call('HGET', KEYS[3], feature) or '0')
  if used + count > seats then
    usageEvent(p, now, 'deny', feature, count, sid, sessionWho(p, sid), nil, 'SEATS_EXHAUSTED')
    return redis.error_reply('SEATS_EXHAUSTED ' .. used)
  end
end

redis.call('HSET', p .. ':lease:' .. lid, 'session_id', sid, 'feature', feature, 'count', count, 'granted_ms', now, 'request_id', rid)
redis.call('SADD', sessionKey .. ':leases', lid)
redis.call('ZADD', leaseIndexKey(p), 0, feature .. ':' .. lid)
local after = redis.call('HINCRBY', KEYS[3], feature, count)
redis.call('HINCRBY', sessionKey, 'seats', count)
if rid ~= '' then redis.call('HSET', reqsKey, rid, lid) end
redis.call('ZADD', KEYS[2], expires, sid)
redis.call('HSET', sessionKey, 'expires_ms', expires)
usageEvent(p, now, 'grant', feature, count, sid, sessionWho(p, sid), lid)
return {lid, count, expires, 0, after}
