--[[
  Read-only: seats in use per feature, from the counters the seat scripts keep. Safe on any
  node (no fencing: writes nothing). This is what status, ListFeatures and /metrics read.

  Input:
    KEYS[1] used hash

  Output: flat {feature, seats_in_use, ...} for features with seats in use
  Cost: O(features in use), whatever the number of sessions. A seat of a session that has
  expired still counts until the session is reaped (the leader's sweep, normally within one
  sweep interval; a checkout that finds too few free seats reaps a few itself).
]]
--@readonly
local flat = redis.call('HGETALL', KEYS[1])
local out = {}
for i = 1, #flat, 2 do
  if tonumber(flat[i + 1]) > 0 then
    out[#out + 1] = flat[i]
    out[#out + 1] = flat[i + 1]
  end
end
return out
