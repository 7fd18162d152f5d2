--[[
  Charge the failover budget for time the redundant served. Called by the redundant each
  heartbeat while it holds the lease (and with 0 ms right after applying an activation key).

  The node decides the episode and derives its grant (the license's budget plus the
  re-verified activation keys of the episode): a script cannot verify a signature, and a
  granted_ms stored here is only shown, never read back as truth.

  Input:
    KEYS[1] leader key   KEYS[2] budget hash {lic:<c>}:budget   KEYS[3] applied activation keys hash
    ARGV[1] owner (fencing)
    ARGV[2] now, wall ms (informational: last_tick_ms, started_ms)
    ARGV[3] elapsed ms to charge, measured on the node's monotonic clock and capped
    ARGV[4] the episode to charge (the node's choice: its mirror's, Redis's, or a new one)
    ARGV[5] its grant ms, derived by the node
    ARGV[6] its consumption so far as the node knows it (the maximum of its sources)
    ARGV[7] its activations (valid keys counted)
    ARGV[8] 1 when the episode opens now, else 0
    ARGV[9..] nonce, key pairs: the episode's valid activation keys (written back, never removed)

  Output: {episode_id, granted_ms, consumed_ms, activations, blocked (0|1)}
  consumed_ms never exceeds granted_ms: nothing is charged while blocked.
  Errors: STALE_EPOCH

  Consumption is the larger of ARGV[6] and what Redis holds for the same episode. When Redis
  holds another episode (or none), the node decided to keep its own: that episode's applied
  keys are not this one's and are dropped.
]]
--@include fence
if not holdsLease(KEYS[1], ARGV[1]) then return staleEpoch() end
local now, elapsed, episode = tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
local granted, consumed, acts = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local b = redis.call('HMGET', KEYS[2], 'episode_id', 'consumed_ms')
if (b[1] or '') == episode then
  consumed = math.max(consumed, tonumber(b[2] or '0') or 0)
else
  redis.call('DEL', KEYS[3])
end
if ARGV[8] == '1' then redis.call('HSET', KEYS[2], 'started_ms', string.format('%d', now)) end
for i = 9, #ARGV - 1, 2 do redis.call('HSET', KEYS[3], ARGV[i], ARGV[i + 1]) end
-- Time spent blocked is not charged (the node grants nothing new), and consumption stops
-- at the grant: an activation key applied after a long block buys its whole extension.
if consumed < granted then consumed = math.min(consumed + elapsed, granted) else consumed = granted end
local blocked = 0
if consumed >= granted then blocked = 1 end
redis.call('HSET', KEYS[2], 'episode_id', episode, 'granted_ms', string.format('%d', granted),
  'consumed_ms', string.format('%d', consumed), 'activations', string.format('%d', acts), 'blocked', blocked,
  'last_tick_ms', string.format('%d', now))
return {episode, granted, consumed, acts, blocked}
