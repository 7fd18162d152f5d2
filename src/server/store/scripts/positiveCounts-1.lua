--[[
  Read-only: the fields of a counter hash whose count is above 0. Safe on any node (no
  fencing: writes nothing). Reads the two per-feature counters the seat scripts keep:
    <p>:used    feature -> seats in use (status, ListFeatures, /metrics). A seat of a session
                that has expired still counts until the session is reaped (the leader's
                sweep, normally within one sweep interval; a checkout that finds too few free
                seats reaps a few itself).
    <p>:queued  feature -> checkouts waiting in its queue (CheckoutRequest.wait_ms; ListFeatures,
                status, and the sweep, to know which queues to serve).

  Input:
    KEYS[1] the counter hash

  Output: flat {field, count, ...} for fields above 0
  Cost: O(fields of the hash: features), whatever the number of sessions or waiters.
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
