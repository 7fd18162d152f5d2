--[[
  Extend the leader lease, only while it is still ours.

  Input:
    KEYS[1] leader key
    ARGV[1] owner `<node_id>:<epoch>`
    ARGV[2] lease TTL, ms

  Output:
    {1}               renewed
    {0, holder}       not ours any more (holder is "" when the key expired)
]]
--@include fence
if holdsLease(KEYS[1], ARGV[1]) then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return {1}
end
return {0, redis.call('GET', KEYS[1]) or ''}
