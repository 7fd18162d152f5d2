--[[
  Read-only: what the budget keeper needs from Redis, in one atomic read. Safe on any
  node (no fencing: writes nothing).

  Input:
    KEYS[1] leader key   KEYS[2] budget hash   KEYS[3] applied activation keys hash (nonce -> key)

  Output: {leader ("" none), episode_id, consumed_ms, activations, last_ended_episode, key...}
  Nothing here is trusted as a number anyone may raise: the caller derives the grant from
  the keys (re-verifying each), takes consumption as the maximum of this and its mirror,
  and uses the leader to watch the primary hold the lease (the episode's end).
]]
--@readonly
local b = redis.call('HMGET', KEYS[2], 'episode_id', 'consumed_ms', 'activations', 'last_ended_episode')
local out = {redis.call('GET', KEYS[1]) or '', b[1] or '', b[2] or '0', b[3] or '0', b[4] or ''}
for _, k in ipairs(redis.call('HVALS', KEYS[3])) do out[#out + 1] = k end
return out
