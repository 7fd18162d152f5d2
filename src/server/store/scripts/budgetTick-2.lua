--[[
  Charge the failover budget for time the redundant served, opening the episode on
  the first tick. Called by the redundant each heartbeat while it holds the lease.

  Input:
    KEYS[1] leader key   KEYS[2] budget hash {lic:<c>}:budget
    ARGV[1] owner (fencing)
    ARGV[2] now, wall ms (informational: last_tick_ms)
    ARGV[3] elapsed ms to charge, measured on the node's monotonic clock and capped
    ARGV[4] episode id to use if a new episode opens
    ARGV[5] failover budget ms (granted to a new episode)
    ARGV[6..9] the node's disk mirror: episode id ("" none), consumed, granted, activations

  Output: {episode_id, granted_ms, consumed_ms, activations, blocked (0|1), opened (0|1), restored (0|1)}
  consumed_ms never exceeds granted_ms: nothing is charged while blocked.
  Errors: STALE_EPOCH

  Durability: when Redis lost the budget (no open episode, and the mirror's episode was
  not ended by the primary), the mirror's episode is restored; for the same episode the
  larger consumption wins. Losing Redis data or the disk alone never refunds budget.
]]
--@include fence
if not holdsLease(KEYS[1], ARGV[1]) then return staleEpoch() end
local now, elapsed = tonumber(ARGV[2]), tonumber(ARGV[3])
local mEpisode, mConsumed, mGranted, mActs = ARGV[6], tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9])
local b = redis.call('HMGET', KEYS[2], 'episode_id', 'granted_ms', 'consumed_ms', 'activations', 'last_ended_episode')
local episode, granted, consumed, acts = b[1] or '', tonumber(b[2] or '0'), tonumber(b[3] or '0'), tonumber(b[4] or '0')
local opened, restored = 0, 0
if episode == '' then
  if mEpisode ~= '' and mEpisode ~= (b[5] or '') then
    episode, granted, consumed, acts = mEpisode, mGranted, mConsumed, mActs
    restored = 1
  else
    episode, granted, consumed, acts = ARGV[4], tonumber(ARGV[5]), 0, 0
    opened = 1
    redis.call('HSET', KEYS[2], 'started_ms', now)
  end
elseif episode == mEpisode then
  consumed = math.max(consumed, mConsumed)
  granted = math.max(granted, mGranted)
  acts = math.max(acts, mActs)
end
-- Time spent blocked is not charged (the node grants nothing new), and consumption stops
-- at the grant: an activation key applied after a long block buys its whole extension.
if consumed < granted then consumed = math.min(consumed + elapsed, granted) end
local blocked = 0
if consumed >= granted then blocked = 1 end
redis.call('HSET', KEYS[2], 'episode_id', episode, 'granted_ms', granted, 'consumed_ms', consumed,
  'activations', acts, 'blocked', blocked, 'last_tick_ms', now)
return {episode, granted, consumed, acts, blocked, opened, restored}
