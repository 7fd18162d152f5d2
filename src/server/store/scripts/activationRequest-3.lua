--[[
  Record a pending activation request (its nonce) for the open episode.

  Input:
    KEYS[1] leader key   KEYS[2] budget hash   KEYS[3] pending requests hash (nonce -> seq)
    ARGV[1] owner (fencing)   ARGV[2] nonce

  Output: {episode_id, seq} where seq = activations + 1 (the activation this request is for)
  Errors: STALE_EPOCH; FAILED_PRECONDITION when no failover episode is open
]]
--@include fence
if not holdsLease(KEYS[1], ARGV[1]) then return staleEpoch() end
local b = redis.call('HMGET', KEYS[2], 'episode_id', 'activations')
local episode = b[1] or ''
if episode == '' then
  return redis.error_reply('FAILED_PRECONDITION no failover episode is open: activation keys extend a running failover; nothing to activate')
end
local seq = tonumber(b[2] or '0') + 1
redis.call('HSET', KEYS[3], ARGV[2], seq)
return {episode, seq}
