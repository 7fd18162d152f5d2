--[[
  One batch of the leader's sweep: free sessions (and their seats) that expired at or
  before now, oldest first. The seat counters (used hash) stay truthful only through this
  and the other scripts that free leases, so the sweep runs every second or so.

  Input:
    KEYS[1] leader key   KEYS[2] sessions zset   KEYS[3] used hash
    ARGV[1] owner (fencing)  ARGV[2] prefix  ARGV[3] now ms  ARGV[4] limit (sessions per call)

  Output: {sessions reclaimed, leases freed}; more may be left while sessions == limit
  Errors: STALE_EPOCH
  Cost: O(limit + the seats those sessions hold), whatever the number of sessions.
]]
--@include fence
--@include sessions
if not holdsLease(KEYS[1], ARGV[1]) then return staleEpoch() end
return reclaimExpired(ARGV[2], KEYS[2], KEYS[3], tonumber(ARGV[3]), tonumber(ARGV[4]))
