--[[
  Extend the leader lease, only while it is still ours.

  Input:
    KEYS[1] leader key
    KEYS[2] leader info hash
    ARGV[1] owner `<node_id>:<epoch>`
    ARGV[2] lease TTL, ms

  Output:
    {1}               renewed
    {0, holder}       not ours any more (holder is "" when the key expired)

  Each renewal counts in the info hash's `renewals` (reset by every acquire): a peer that
  sees this node's port refuse connections takes the lease over early only if the count
  has not moved since (acquireLease-4.lua), so a live holder is never taken over.
]]
--@include fence
if holdsLease(KEYS[1], ARGV[1]) then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  if redis.call('HGET', KEYS[2], 'owner') == ARGV[1] then redis.call('HINCRBY', KEYS[2], 'renewals', 1) end
  return {1}
end
return {0, redis.call('GET', KEYS[1]) or ''}
