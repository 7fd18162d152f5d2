--[[
  Open a client session.

  Input:
    KEYS[1] leader key           KEYS[2] sessions zset
    ARGV[1] owner <node>:<epoch> (fencing)
    ARGV[2] key prefix {lic:<c>} ARGV[3] session id   ARGV[4] now ms   ARGV[5] session ttl ms
    ARGV[6] client_id  ARGV[7] user  ARGV[8] hostname  ARGV[9] pid

  Output: expires_at_ms
  Errors: STALE_EPOCH
]]
--@include fence
if not holdsLease(KEYS[1], ARGV[1]) then return redis.error_reply('STALE_EPOCH this node no longer holds the lease') end
local p, sid, now = ARGV[2], ARGV[3], tonumber(ARGV[4])
local expires = now + tonumber(ARGV[5])
redis.call('HSET', p .. ':session:' .. sid, 'client_id', ARGV[6], 'user', ARGV[7], 'hostname', ARGV[8],
  'pid', ARGV[9], 'created_ms', now, 'expires_ms', expires)
redis.call('ZADD', KEYS[2], expires, sid)
return expires
