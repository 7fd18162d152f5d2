--[[
  Read-only: checkouts waiting per feature (CheckoutRequest.wait_ms), from the counter the
  seat scripts keep next to each queue. Safe on any node (no fencing: writes nothing). Read by
  ListFeatures, status, and the sweep (to know which queues to serve).

  Input:
    KEYS[1] queued hash (feature -> waiters in its queue)

  Output: flat {feature, waiters, ...} for features with a queue
  Cost: O(features with a queue), whatever the queues' lengths.
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
