--[[
  Grant seats of a feature to a session, or queue the checkout when it may wait: fencing check,
  the session, its request id, then count and grant, queue or refuse. Idempotent by request id.

  Input:
    KEYS[1] leader key   KEYS[2] sessions zset   KEYS[3] used hash
    ARGV[1] owner (fencing)   ARGV[2] prefix   ARGV[3] session id   ARGV[4] now ms
    ARGV[5] session ttl ms    ARGV[6] feature  ARGV[7] count        ARGV[8] seats licensed
    ARGV[9] request id ("" = not idempotent)  ARGV[10] new lease id
    ARGV[11] reclaim limit: expired sessions freed (oldest first) when, and only when, the
             feature has too few free seats; also the most dead queue heads dropped
    ARGV[12] max seats per session
    ARGV[13] queue deadline ms (0 = do not wait: refuse when no seat is free)
    ARGV[14] waiter id: '<session id>:<request id>', or '<session id>:<new lease id>' without one
    ARGV[15] the feature's seat policy, compiled (src/server/policy/policy-script.ts; '' = no rules)

  Output: granted: {lease_id, count, expires_at_ms, reused (0|1), seats_in_use_after}
          queued:  {lease_id (granted under this id later), count, expires_at_ms, 0, seats_in_use,
                    position (1-based)}: six elements, position > 0
  Usage events: 'grant' for a new lease; 'deny' (reason SEATS_EXHAUSTED, LIMIT_EXCEEDED,
  POLICY_LIMIT or POLICY_DENIED) for a refusal for lack of seats, over the per-session limit,
  or by a rule of the seat policy. Queueing records nothing; the
  queued checkout's end does ('queue', in serveQueue, leaveQueue or when its session goes).
  Errors: STALE_EPOCH; NOT_FOUND (session unknown/expired);
          SEATS_EXHAUSTED <in_use> [<queue length>] (not enough free seats now, or a queue
            waits ahead and the caller does not wait);
          LIMIT_EXCEEDED (the session would hold, or wait for, more seats than allowed);
          POLICY_LIMIT <deny|max|reserve>|<rule>|<message> (a rule of the seat policy refuses;
            includes/policy.lua);
          INVALID_ARGUMENT (request id reused for another feature or count);
          FAILED_PRECONDITION (request id already used for a lease since released).

  Request ids: one whose lease is still held answers that lease; one whose checkout is queued
  answers its place in the queue (a retry, say after a failover, never queues twice; the new
  deadline replaces the old); one whose lease was released is refused (FAILED_PRECONDITION)
  while it is among the session's last 256 released request ids (includes/sessions.lua), so a
  late retry never takes a second seat; an older one is forgotten and counts as a new request.
  Live ones are bounded by the per-session seat limit (held and waited-for seats together).

  Queue (strict FIFO per feature): while a feature's queue is not empty no checkout takes seats
  ahead of it; it queues behind (deadline > 0) or is refused. Dead heads (deadline passed,
  session gone) are dropped first, at most ARGV[11].

  Seat policy (ARGV[15]): deny and max rules refuse at once, waiting or not (a wait would not
  help: deny never lifts, and max lifts only when the requester itself releases). A reservation
  that keeps the free seats for others refuses a checkout that does not wait and queues one
  that does, as a lack of seats would. The unused seats of the requester's own reservations
  are not the queue's (nobody queued ahead may take them unless they own them too): an owner
  they cover is granted ahead of the queue.

  Cost: a fixed number of commands while the feature has free seats and no queue; O(log queue)
  to queue. Seats of expired sessions count until they are reaped (the leader's sweep); only a
  checkout that finds too few free seats reaps, at most ARGV[11] sessions, and counts again.

  Invariant: the sum of counts of the leases of a feature not yet freed never exceeds its seats.
]]
--@include fence
--@include sessions
--@include policy
if not holdsLease(KEYS[1], ARGV[1]) then return staleEpoch() end
local p, sid, now, ttl = ARGV[2], ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5])
local feature, count, seats, rid, lid = ARGV[6], tonumber(ARGV[7]), tonumber(ARGV[8]), ARGV[9], ARGV[10]
local reclaimLimit, deadline, wid = tonumber(ARGV[11]), tonumber(ARGV[13]), ARGV[14]

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

local function renew()
  redis.call('ZADD', KEYS[2], expires, sid)
  redis.call('HSET', sessionKey, 'expires_ms', expires)
end
local qKey = queueKey(p, feature)

-- A retry of a checkout that is queued keeps its place.
local w = readWaiter(p, wid)
if w[1] then
  if w[2] ~= feature or tonumber(w[3]) ~= count then
    return redis.error_reply('INVALID_ARGUMENT request_id ' .. rid .. ' is queued for ' .. w[3] .. ' seat(s) of ' .. w[2])
  end
  local used = tonumber(redis.call('HGET', KEYS[3], feature) or '0')
  local position = redis.call('ZRANK', qKey, wid) + 1
  if deadline == 0 then
    return redis.error_reply('SEATS_EXHAUSTED ' .. used .. ' ' .. redis.call('ZCARD', qKey))
  end
  redis.call('HSET', waiterKey(p, wid), 'deadline_ms', deadline)
  renew()
  return {w[5], count, expires, 0, used, position}
end

local s = redis.call('HMGET', sessionKey, 'seats', 'waiting')
local held, waiting = tonumber(s[1] or '0'), tonumber(s[2] or '0')
if held + waiting + count > tonumber(ARGV[12]) then
  usageEvent(p, now, 'deny', feature, count, sid, sessionWho(p, sid), nil, 'LIMIT_EXCEEDED')
  local waits = waiting > 0 and (' and waits for ' .. waiting .. ' more') or ''
  return redis.error_reply('LIMIT_EXCEEDED session ' .. sid .. ' holds ' .. held .. ' seat(s)' .. waits .. '; ' .. count .. ' more would pass the limit of ' .. ARGV[12] .. ' per session')
end

local queued = redis.call('ZCARD', qKey)
if queued > 0 then queued = pruneQueueHeads(p, KEYS[2], feature, now, reclaimLimit) end
local used = tonumber(redis.call('HGET', KEYS[3], feature) or '0')
if queued == 0 and used + count > seats then
  -- Some of those seats may belong to expired sessions the sweep has not reaped yet.
  reclaimExpired(p, KEYS[2], KEYS[3], now, reclaimLimit)
  used = tonumber(redis.call('HGET', KEYS[3], feature) or '0')
end

local who = sessionWho(p, sid)
local reserved, ownUnused = false, 0
if ARGV[15] ~= '' then
  local refusal
  -- Only a checkout with a queue ahead needs its own reservations' unused seats (to pass the queue).
  refusal, ownUnused = policyRefusal(p, decodePolicy(ARGV[15]), feature, who[2], who[3], count, seats, used, queued > 0)
  if refusal then
    if refusal[1] ~= 'reserve' or deadline == 0 then
      usageEvent(p, now, 'deny', feature, count, sid, who, nil, policyReason(refusal))
      return policyError(refusal)
    end
    reserved = true
  end
  ownUnused = ownUnused or 0
end
local ahead = queued > 0 and ownUnused < count

if ahead or reserved or used + count > seats then
  if deadline > 0 then
    redis.call('ZADD', qKey, redis.call('INCR', p .. ':queue_seq'), wid)
    redis.call('HINCRBY', p .. ':queued', feature, 1)
    redis.call('HSET', waiterKey(p, wid), 'session_id', sid, 'feature', feature, 'count', count, 'request_id', rid,
      'lease_id', lid, 'enqueued_ms', now, 'deadline_ms', deadline)
    redis.call('SADD', sessionKey .. ':waits', wid)
    redis.call('HINCRBY', sessionKey, 'waiting', count)
    renew()
    return {lid, count, expires, 0, used, queued + 1}
  end
  usageEvent(p, now, 'deny', feature, count, sid, who, nil, 'SEATS_EXHAUSTED')
  if queued > 0 then return redis.error_reply('SEATS_EXHAUSTED ' .. used .. ' ' .. queued) end
  return redis.error_reply('SEATS_EXHAUSTED ' .. used)
end

local after = grantLease(p, KEYS[2], KEYS[3], sid, feature, count, rid, lid, now, expires, who)
return {lid, count, expires, 0, after}
