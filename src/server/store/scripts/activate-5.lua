--[[
  Apply a verified activation key: consume its pending nonce and keep the key itself
  with the episode. All or nothing: any refusal changes nothing. The node then charges
  0 ms (budgetTick), which derives the new grant from the kept keys and unblocks: no
  number here is raised, so none can be raised by hand either.

  Input:
    KEYS[1] leader key   KEYS[2] budget hash   KEYS[3] pending requests hash   KEYS[4] used nonces set
    KEYS[5] applied activation keys hash (nonce -> key)
    ARGV[1] owner (fencing)   ARGV[2] episode id   ARGV[3] seq   ARGV[4] nonce   ARGV[5] the key (LAK1...)
    ARGV[6] now, wall ms
    ARGV[7] "1": check only (AdminService.CheckActivationKey): every refusal as above, nothing written

  Output: the episode id (also when checking only)
  Errors: STALE_EPOCH; ACTIVATION_USED (nonce already consumed);
          ACTIVATION_WRONG_TARGET (other episode, other sequence, or no such pending request)
]]
--@include fence
if not holdsLease(KEYS[1], ARGV[1]) then return staleEpoch() end
local nonce = ARGV[4]
if redis.call('SISMEMBER', KEYS[4], nonce) == 1 then
  return redis.error_reply('ACTIVATION_USED this activation key was already applied; request a new one (licensectl activation request)')
end
local b = redis.call('HMGET', KEYS[2], 'episode_id', 'activations')
local episode, acts = b[1] or '', tonumber(b[2] or '0') or 0
if episode == '' or episode ~= ARGV[2] then
  return redis.error_reply('ACTIVATION_WRONG_TARGET this key is for failover episode ' .. ARGV[2] .. ', the open episode is "' .. episode .. '"; request a new key')
end
if tonumber(ARGV[3]) ~= acts + 1 then
  return redis.error_reply('ACTIVATION_WRONG_TARGET this key is for activation #' .. ARGV[3] .. ', the next is #' .. string.format('%d', acts + 1) .. '; request a new key')
end
if redis.call('HEXISTS', KEYS[3], nonce) == 0 then
  return redis.error_reply('ACTIVATION_WRONG_TARGET no pending request matches this key (it lapsed or was replaced); request a new key')
end
if ARGV[7] == '1' then return episode end
redis.call('HDEL', KEYS[3], nonce)
redis.call('SADD', KEYS[4], nonce)
redis.call('HSET', KEYS[5], nonce, ARGV[5])
redis.call('HSET', KEYS[2], 'last_activation_ms', ARGV[6])
return episode
