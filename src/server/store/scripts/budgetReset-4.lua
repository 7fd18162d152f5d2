--[[
  End the failover episode: the primary has held the lease continuously for the
  reset period, so the budget is full again. Pending activation requests lapse, and
  the applied keys go with the episode they extended.

  Input:
    KEYS[1] leader key   KEYS[2] budget hash   KEYS[3] pending activation requests hash
    KEYS[4] applied activation keys hash
    ARGV[1] owner (fencing)   ARGV[2] now, wall ms   ARGV[3] failover budget ms (shown as granted_ms)

  Output: the ended episode id ("" when none was open)
  Errors: STALE_EPOCH
]]
--@include fence
if not holdsLease(KEYS[1], ARGV[1]) then return staleEpoch() end
local episode = redis.call('HGET', KEYS[2], 'episode_id') or ''
if episode == '' then return '' end
redis.call('HSET', KEYS[2], 'episode_id', '', 'granted_ms', ARGV[3], 'consumed_ms', 0, 'activations', 0,
  'blocked', 0, 'last_ended_episode', episode, 'ended_ms', ARGV[2])
redis.call('DEL', KEYS[3], KEYS[4])
return episode
