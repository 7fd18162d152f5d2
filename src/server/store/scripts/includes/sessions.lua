-- Session helpers shared by the seat scripts. Keys are built from the cluster prefix
-- `{lic:<cluster>}` passed in ARGV; the hash tag keeps them in the script's slot.
--   <p>:sessions                 ZSET  session id -> expires_at_ms
--   <p>:session:<sid>            HASH  client_id, user, hostname, pid, created_ms, expires_ms,
--                                      seats (held now), released (request ids released so far)
--   <p>:session:<sid>:leases     SET   lease ids of the session
--   <p>:session:<sid>:reqs       HASH  request_id -> lease id, for leases still held only (so at most
--                                      the per-session seat limit); dropped when the lease is freed
--   <p>:session:<sid>:released   ZSET  request_id -> release sequence: the request ids of the last
--                                      256 released leases (RELEASED_REQUEST_IDS_KEPT in seat-store.ts),
--                                      so a late retry of one is refused instead of taking a second seat
--   <p>:lease:<lid>              HASH  session_id, feature, count, granted_ms, request_id, hu, hh (the
--                                      user and host its seats count for in <p>:holders:<feature>; absent
--                                      on leases granted before that hash existed, which it never counted)
--   <p>:holders:<feature>        HASH  'u:<user>' / 'h:<host>' -> seats of the feature held by that user /
--                                      on that host: what the seat policy's limits count (includes/policy.lua)
--   <p>:lease_index              ZSET  '<feature>:<lease id>' -> 0, every lease not yet freed; read
--                                      with ZRANGEBYLEX, so ListLeases pages by a cursor that no
--                                      heartbeat moves (feature names and lease ids have no ':')
--   <p>:used                     HASH  feature -> seats held by leases not yet freed: the counter
--                                      status, ListFeatures and /metrics read (a seat of an expired
--                                      session counts until the session is reaped)
--   <p>:client:<client_id>       SET   open session ids of one client id (the per-client limit)
--   <p>:queue:<feature>          ZSET  waiter id -> enqueue sequence: the feature's FIFO queue of checkouts
--                                      waiting for seats (CheckoutRequest.wait_ms)
--   <p>:queue_seq                STRING last enqueue sequence (INCR), so queue order is arrival order
--   <p>:queued                   HASH  feature -> waiters in its queue (always its ZCARD): what ListFeatures
--                                      and the sweep read, O(features with a queue)
--   <p>:waiter:<wid>             HASH  session_id, feature, count, request_id, lease_id (chosen at enqueue),
--                                      enqueued_ms, deadline_ms; wid = '<sid>:<request id>', or
--                                      '<sid>:<lease id>' without a request id
--   <p>:session:<sid>:waits      SET   waiter ids of the session; the session hash's `waiting` field is
--                                      the seats they ask for, counted against the per-session limit, so
--                                      a session has at most that many waiters
--   <p>:usage                    STREAM usage events (src/server/usage/usage-event.ts), appended in
--                                      the same script as the change they record; trimmed by age
--                                      (trimUsage-2.lua, LICENSE_USAGE_RETENTION)

-- Who holds a session, for usage events: {client_id, user, hostname} ('' when unknown).
local function sessionWho(p, sid)
  local s = redis.call('HMGET', p .. ':session:' .. sid, 'client_id', 'user', 'hostname')
  return {s[1] or '', s[2] or '', s[3] or ''}
end

-- Appends one usage event. `who` is sessionWho(); `lid`, `reason` and `waitMs` may be nil.
local function usageEvent(p, now, kind, feature, count, sid, who, lid, reason, waitMs)
  redis.call('XADD', p .. ':usage', '*', 't', now, 'e', kind, 'f', feature, 'n', count,
    'u', who[2], 'h', who[3], 'c', who[1], 's', sid, 'l', lid or '', 'r', reason or '', 'w', waitMs or 0)
end

local function leaseIndexKey(p)
  return p .. ':lease_index'
end

local function holdersKey(p, feature)
  return p .. ':holders:' .. feature
end

-- Adds `delta` to a counter field of hash `key` (used, queued, holders); a count that reaches 0
-- is deleted, so readers see only the positive ones. Returns the count after.
local function addCount(key, field, delta)
  local n = redis.call('HINCRBY', key, field, delta)
  if n <= 0 then redis.call('HDEL', key, field) end
  return n
end

local function queueKey(p, feature)
  return p .. ':queue:' .. feature
end

local function waiterKey(p, wid)
  return p .. ':waiter:' .. wid
end

-- HMGET <waiter> WAITER_FIELDS: w[1] session_id .. w[7] deadline_ms.
local WAITER_FIELDS = {'session_id', 'feature', 'count', 'request_id', 'lease_id', 'enqueued_ms', 'deadline_ms'}

local function readWaiter(p, wid)
  return redis.call('HMGET', waiterKey(p, wid), unpack(WAITER_FIELDS))
end

-- Takes waiter `wid` (w = readWaiter) out of its queue and records the 'queue' usage event:
-- with lease `lid` when it was granted, else with `reason` (why it left). O(log queue).
local function unqueue(p, wid, w, now, lid, reason, who)
  local sid, feature, count = w[1], w[2], tonumber(w[3])
  redis.call('ZREM', queueKey(p, feature), wid)
  addCount(p .. ':queued', feature, -1)
  redis.call('DEL', waiterKey(p, wid))
  local sessionKey = p .. ':session:' .. sid
  redis.call('SREM', sessionKey .. ':waits', wid)
  if redis.call('EXISTS', sessionKey) == 1 then redis.call('HINCRBY', sessionKey, 'waiting', -count) end
  usageEvent(p, now, 'queue', feature, count, sid, who or sessionWho(p, sid), lid, reason, tonumber(now) - tonumber(w[6] or now))
end

-- Grants `count` seats of `feature` to live session `sid` as lease `lid` (the caller checked the
-- seats and the limits) and renews the session to `expires`. Returns the feature's seats in use after.
local function grantLease(p, sessionsKey, usedKey, sid, feature, count, rid, lid, now, expires, who)
  local sessionKey = p .. ':session:' .. sid
  redis.call('HSET', p .. ':lease:' .. lid, 'session_id', sid, 'feature', feature, 'count', count, 'granted_ms', now, 'request_id', rid,
    'hu', who[2], 'hh', who[3])
  addCount(holdersKey(p, feature), 'u:' .. who[2], count)
  addCount(holdersKey(p, feature), 'h:' .. who[3], count)
  redis.call('SADD', sessionKey .. ':leases', lid)
  redis.call('ZADD', leaseIndexKey(p), 0, feature .. ':' .. lid)
  local after = redis.call('HINCRBY', usedKey, feature, count)
  redis.call('HINCRBY', sessionKey, 'seats', count)
  if rid ~= '' then redis.call('HSET', sessionKey .. ':reqs', rid, lid) end
  redis.call('ZADD', sessionsKey, expires, sid)
  redis.call('HSET', sessionKey, 'expires_ms', expires)
  usageEvent(p, now, 'grant', feature, count, sid, who, lid)
  return after
end

-- Frees one lease that belongs to session `sid`: counter, index, lease hash, and the live
-- request id (remembered as released when `remember` > 0, keeping the last `remember`).
-- `l` is HMGET lease 'feature', 'count', 'request_id'.
local function freeLease(p, usedKey, sid, lid, l, remember)
  addCount(usedKey, l[1], -tonumber(l[2]))
  redis.call('ZREM', leaseIndexKey(p), l[1] .. ':' .. lid)
  local h = redis.call('HMGET', p .. ':lease:' .. lid, 'hu', 'hh')
  if h[1] then
    addCount(holdersKey(p, l[1]), 'u:' .. h[1], -tonumber(l[2]))
    addCount(holdersKey(p, l[1]), 'h:' .. (h[2] or ''), -tonumber(l[2]))
  end
  redis.call('DEL', p .. ':lease:' .. lid)
  local rid = l[3]
  if rid and rid ~= '' and remember > 0 then
    local sessionKey = p .. ':session:' .. sid
    redis.call('HDEL', sessionKey .. ':reqs', rid)
    local releasedKey = sessionKey .. ':released'
    redis.call('ZADD', releasedKey, redis.call('HINCRBY', sessionKey, 'released', 1), rid)
    redis.call('ZREMRANGEBYRANK', releasedKey, 0, -(remember + 1))
  end
end

-- Frees every lease of a session and deletes it, recording a usage event of `kind`
-- ('release': the client closed it; 'expire': it expired) per lease; its queued checkouts
-- leave their queues ('queue' events, reason SESSION_CLOSED or SESSION_EXPIRED). Returns the
-- number of leases freed. Cost: O(leases + waiters of the session), together at most the
-- per-session seat limit.
local function dropSession(p, sessionsKey, usedKey, sid, now, kind)
  local sessionKey = p .. ':session:' .. sid
  local leasesKey = sessionKey .. ':leases'
  local waitsKey = sessionKey .. ':waits'
  for _, wid in ipairs(redis.call('SMEMBERS', waitsKey)) do
    local w = readWaiter(p, wid)
    if w[1] then unqueue(p, wid, w, now, nil, kind == 'expire' and 'SESSION_EXPIRED' or 'SESSION_CLOSED') end
  end
  local lids = redis.call('SMEMBERS', leasesKey)
  local who = #lids > 0 and sessionWho(p, sid) or nil
  for _, lid in ipairs(lids) do
    local l = redis.call('HMGET', p .. ':lease:' .. lid, 'feature', 'count', 'request_id')
    if l[1] then
      freeLease(p, usedKey, sid, lid, l, 0)
      usageEvent(p, now, kind, l[1], l[2], sid, who, lid)
    else
      redis.call('DEL', p .. ':lease:' .. lid)
    end
  end
  local clientId = redis.call('HGET', sessionKey, 'client_id')
  if clientId then redis.call('SREM', p .. ':client:' .. clientId, sid) end
  redis.call('DEL', sessionKey, leasesKey, sessionKey .. ':reqs', sessionKey .. ':released', waitsKey)
  redis.call('ZREM', sessionsKey, sid)
  return #lids
end

-- Frees sessions whose expiry is at or before now, oldest first, at most `limit`.
-- Cost grows with `limit` (and the seats those sessions hold), never with the total.
-- Returns {sessions reclaimed, leases freed}.
local function reclaimExpired(p, sessionsKey, usedKey, now, limit)
  local sids = redis.call('ZRANGEBYSCORE', sessionsKey, '-inf', now, 'LIMIT', 0, limit)
  local leases = 0
  for _, sid in ipairs(sids) do
    leases = leases + dropSession(p, sessionsKey, usedKey, sid, now, 'expire')
  end
  return {#sids, leases}
end

-- The error reply for a session that is unknown, or expired (freed here, seats and all);
-- nil while it is alive. `whatNext` ends the message with what the client should do.
local function deadSession(p, sessionsKey, usedKey, sid, now, whatNext)
  local score = redis.call('ZSCORE', sessionsKey, sid)
  if not score then
    return redis.error_reply('SESSION_NOT_FOUND session ' .. sid .. ' is unknown or expired; ' .. whatNext)
  end
  if tonumber(score) <= now then
    dropSession(p, sessionsKey, usedKey, sid, now, 'expire')
    return redis.error_reply('SESSION_NOT_FOUND session ' .. sid .. ' expired and its seats were freed; ' .. whatNext)
  end
  return nil
end

-- Takes waiter `wid` (w = readWaiter) of `feature`'s queue out when it can never be granted,
-- with a 'queue' event: session expired or gone (SESSION_GONE), deadline passed (QUEUE_TIMEOUT);
-- a queue entry without its waiter (never written so) goes alone. Returns the reason ('' for
-- such an entry), or nil while the waiter may still be granted.
local function dropDeadWaiter(p, sessionsKey, feature, wid, w, now)
  if not w[1] then
    redis.call('ZREM', queueKey(p, feature), wid)
    addCount(p .. ':queued', feature, -1)
    return ''
  end
  local score = redis.call('ZSCORE', sessionsKey, w[1])
  local reason = nil
  if not score or tonumber(score) <= now then reason = 'SESSION_GONE'
  elseif tonumber(w[7]) <= now then reason = 'QUEUE_TIMEOUT' end
  if reason then unqueue(p, wid, w, now, nil, reason) end
  return reason
end

-- Drops waiters at the head of a feature's queue that can never be granted (dropDeadWaiter),
-- at most `limit`. Returns the queue's length after.
local function pruneQueueHeads(p, sessionsKey, feature, now, limit)
  local qKey = queueKey(p, feature)
  for _ = 1, limit do
    local wid = redis.call('ZRANGE', qKey, 0, 0)[1]
    if not wid or not dropDeadWaiter(p, sessionsKey, feature, wid, readWaiter(p, wid), now) then break end
  end
  return redis.call('ZCARD', qKey)
end
