--[[
  Drop usage events older than the retention (LICENSE_USAGE_RETENTION): the lease holder runs
  this about once a minute, so each run drops about a minute's events: O(those events).

  Input:
    KEYS[1] leader key   KEYS[2] usage stream
    ARGV[1] owner (fencing)   ARGV[2] oldest time to keep, ms (a stream id's time part)

  Output: the number of entries trimmed
  Errors: STALE_EPOCH
]]
--@include fence
if not holdsLease(KEYS[1], ARGV[1]) then return staleEpoch() end
return redis.call('XTRIM', KEYS[2], 'MINID', ARGV[2])
