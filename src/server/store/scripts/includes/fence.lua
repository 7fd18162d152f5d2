-- Fencing: true only while the leader key holds exactly `owner` (`<node_id>:<epoch>`).
-- Every script that writes cluster state calls this first and refuses with
-- STALE_EPOCH otherwise, so a paused or partitioned ex-leader can never write.
local function holdsLease(leaderKey, owner)
  return redis.call('GET', leaderKey) == owner
end

-- The one refusal of every fenced write script.
local function staleEpoch()
  return redis.error_reply('STALE_EPOCH this node no longer holds the lease')
end
