--[[
  Apply a verified activation key: consume its pending nonce, add the extension,
  unblock. All or nothing: any refusal changes nothing.

  Input:
    KEYS[1] leader key   KEYS[2] budget hash   KEYS[3] pending requests hash   KEYS[4] used nonces set
    ARGV[1] owner (fencing)   ARGV[2] episode id   ARGV[3] seq   ARGV[4] nonce   ARGV[5] extension ms
    ARGV[6] now, wall ms

  Output: {episode_id, granted_ms, consumed_ms, activations, blocked}
  Errors: STALE_EPOCH; ACTIVATION_USED (nonce already consumed);
          ACTIVATION_WRONG_TARGET (other episode, other sequence, or no such pending request)
]]
--@include fence
if not holdsLease(KEYS[1], ARGV[1]) then return staleEpoch() end
local nonce = ARGV[4]
if redis.call('SISMEMBER', KEYS[4], nonce) == 1 then
  return redis.error_reply('ACTIVATION_USED this activation key was already applied; request a new one (licensectl activation request)')
end
local b = redis.call('HMGET', KEYS[2], 'episode_id', 'granted_ms', 'consumed_ms', 'activations')
local episode, granted, consumed, acts = b[1] or '', tonumber(b[2] or '0'), tonumber(b[3] or '0'), tonumber(b[4] or '0')
if episode == '' or episode ~= ARGV[2] then
  return redis.error_reply('ACTIVATION_WRONG_TARGET this key is for failover episode ' .. ARGV[2] .. ', the open episode is "' .. episode .. '"; request a new key')
end
if tonumber(ARGV[3]) ~= acts + 1 then
  return redis.error_reply('ACTIVATION_WRONG_TARGET this key is for activation #' .. ARGV[3] .. ', the next is #' .. (acts + 1) .. '; request a new key')
end
if redis.call('HEXISTS', KEYS[3], nonce) == 0 then
  return redis.error_reply('ACTIVATION_WRONG_TARGET no pending request matches this key (it lapsed or was replaced); request a new key')
end
redis.call('HDEL', KEYS[3], nonce)
redis.call('SADD', KEYS[4], nonce)
granted = granted + tonumber(ARGV[5])
acts = acts + 1
local blocked = 0
if consumed >= granted then blocked = 1 end
redis.call('HSET', KEYS[2], 'granted_ms', granted, 'activations', acts, 'blocked', blocked, 'last_activation_ms', ARGV[6])
return {episode, granted, consumed, acts, blocked}
