--[[
  A queued checkout leaves its queue: its wait ran out, or its caller went away. When it was
  granted meanwhile (serveQueue on any node got there first), the lease is answered instead,
  so the caller can still hand it out; nothing is freed here.

  Input:
    KEYS[1] leader key   KEYS[2] sessions zset
    ARGV[1] owner (fencing)  ARGV[2] prefix  ARGV[3] waiter id  ARGV[4] session id
    ARGV[5] request id ('' none)  ARGV[6] lease id chosen at enqueue  ARGV[7] now ms
    ARGV[8] reason (usage event: QUEUE_TIMEOUT, CANCELLED)

  Output: {1} it was queued and has left ('queue' usage event with the reason);
          {2, lease id, count, expires_at_ms} it had been granted;
          {0, reason} it was no longer queued (reason SESSION_GONE when its session is gone,
          else '': it left on its deadline already)
  Errors: STALE_EPOCH
  Cost: O(log queue).
]]
--@include fence
--@include sessions
if not holdsLease(KEYS[1], ARGV[1]) then return staleEpoch() end
local p, wid, sid, rid, lid, now = ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], tonumber(ARGV[7])
local w = readWaiter(p, wid)
if w[1] then
  unqueue(p, wid, w, now, nil, ARGV[8])
  return {1}
end
local glid = lid
if rid ~= '' then glid = redis.call('HGET', p .. ':session:' .. sid .. ':reqs', rid) end
if glid then
  local l = redis.call('HMGET', p .. ':lease:' .. glid, 'session_id', 'count')
  if l[1] == sid then
    return {2, glid, tonumber(l[2]), tonumber(redis.call('HGET', p .. ':session:' .. sid, 'expires_ms') or '0')}
  end
end
local score = redis.call('ZSCORE', KEYS[2], sid)
if not score or tonumber(score) <= now then return {0, 'SESSION_GONE'} end
return {0, ''}
