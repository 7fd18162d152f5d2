-- Session helpers shared by the seat scripts. Keys are built from the cluster prefix
-- `{lic:<cluster>}` passed in ARGV; the hash tag keeps them in the script's slot.
--   <p>:sessions                 ZSET  session id -> expires_at_ms
--   <p>:session:<sid>            HASH  client_id, user, hostname, pid, created_ms, expires_ms
--   <p>:session:<sid>:leases     SET   lease ids of the session
--   <p>:session:<sid>:reqs       HASH  request_id -> lease id (idempotent checkouts)
--   <p>:lease:<lid>              HASH  session_id, feature, count, granted_ms
--   <p>:used                     HASH  feature -> seats held by leases not yet freed
--   <p>:client:<client_id>       SET   open session ids of one client id (the per-client limit)

-- Frees every lease of a session and deletes it. Returns the number of leases freed.
local function dropSession(p, sessionsKey, usedKey, sid)
  local leasesKey = p .. ':session:' .. sid .. ':leases'
  local lids = redis.call('SMEMBERS', leasesKey)
  for _, lid in ipairs(lids) do
    local leaseKey = p .. ':lease:' .. lid
    local l = redis.call('HMGET', leaseKey, 'feature', 'count')
    if l[1] then
      local left = redis.call('HINCRBY', usedKey, l[1], -tonumber(l[2]))
      if left <= 0 then redis.call('HDEL', usedKey, l[1]) end
    end
    redis.call('DEL', leaseKey)
  end
  local clientId = redis.call('HGET', p .. ':session:' .. sid, 'client_id')
  if clientId then redis.call('SREM', p .. ':client:' .. clientId, sid) end
  redis.call('DEL', p .. ':session:' .. sid, leasesKey, p .. ':session:' .. sid .. ':reqs')
  redis.call('ZREM', sessionsKey, sid)
  return #lids
end

-- Frees sessions whose expiry is at or before now, oldest first, at most `limit`.
-- Cost grows with the number of expired sessions, not with the total.
-- Returns {sessions reclaimed, leases freed}.
local function reclaimExpired(p, sessionsKey, usedKey, now, limit)
  local sids = redis.call('ZRANGEBYSCORE', sessionsKey, '-inf', now, 'LIMIT', 0, limit)
  local leases = 0
  for _, sid in ipairs(sids) do
    leases = leases + dropSession(p, sessionsKey, usedKey, sid)
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
    dropSession(p, sessionsKey, usedKey, sid)
    return redis.error_reply('SESSION_NOT_FOUND session ' .. sid .. ' expired and its seats were freed; ' .. whatNext)
  end
  return nil
end
