--[[
  The periodic sweep: free sessions (and their seats) that expired at or before now.

  Input:
    KEYS[1] leader key   KEYS[2] sessions zset   KEYS[3] used hash
    ARGV[1] owner (fencing)  ARGV[2] prefix  ARGV[3] now ms  ARGV[4] limit

  Output: {sessions reclaimed, leases freed}; call again while sessions == limit
  Errors: STALE_EPOCH
]]
--@include fence
--@include sessions
if not holdsLease(KEYS[1], ARGV[1]) then return staleEpoch() end
return reclaimExpired(ARGV[2], KEYS[2], KEYS[3], tonumber(ARGV[3]), tonumber(ARGV[4]))
