--[[
  Close a session and free all its seats. Closing an unknown session is a no-op.

  Input:
    KEYS[1] leader key   KEYS[2] sessions zset   KEYS[3] used hash
    ARGV[1] owner (fencing)  ARGV[2] prefix  ARGV[3] session id  ARGV[4] now ms (usage events)

  Output: number of leases freed (each recorded as a 'release' usage event)
  Errors: STALE_EPOCH
  Cost: O(seats the session holds); its request-id records go with it.
]]
--@include fence
--@include sessions
if not holdsLease(KEYS[1], ARGV[1]) then return staleEpoch() end
if not redis.call('ZSCORE', KEYS[2], ARGV[3]) then return 0 end
return dropSession(ARGV[2], KEYS[2], KEYS[3], ARGV[3], ARGV[4], 'release')
