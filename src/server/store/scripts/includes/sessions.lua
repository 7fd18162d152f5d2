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
--   <p>:lease:<lid>              HASH  session_id, feature, count, granted_ms, request_id
--   <p>:lease_index              ZSET  '<feature>:<lease id>' -> 0, every lease not yet freed; read
--                                      with ZRANGEBYLEX, so ListLeases pages by a cursor that no
--                                      heartbeat moves (feature names and lease ids have no ':')
--   <p>:used                     HASH  feature -> seats held by leases not yet freed: the counter
--                                      status, ListFeatures and /metrics read (a seat of an expired
--                                      session counts until the session is reaped)
--   <p>:client:<client_id>       SET   open session ids of one client id (the per-client limit)
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

-- Frees one lease that belongs to session `sid`: counter, index, lease hash, and the live
-- request id (remembered as released when `remember` > 0, keeping the last `remember`).
-- `l` is HMGET lease 'feature', 'count', 'request_id'.
local function freeLease(p, usedKey, sid, lid, l, remember)
  local left = redis.call('HINCRBY', usedKey, l[1], -tonumber(l[2]))
  if left <= 0 then redis.call('HDEL', usedKey, l[1]) end
  redis.call('ZREM', leaseIndexKey(p), l[1] .. ':' .. lid)
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
-- ('release': the client closed it; 'expire': it expired) per lease. Returns the number of
-- leases freed. Cost: O(leases of the session), at most the per-session seat limit.
local function dropSession(p, sessionsKey, usedKey, sid, now, kind)
  local sessionKey = p .. ':session:' .. sid
  local leasesKey = sessionKey .. ':leases'
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
  redis.call('DEL', sessionKey, leasesKey, sessionKey .. ':reqs', sessionKey .. ':released')
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
