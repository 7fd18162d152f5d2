--[[
  Compare-and-delete: free the leader lease only if it is still ours.

  Input:
    KEYS[1] leader key
    ARGV[1] owner `<node_id>:<epoch>`

  Output:
    1  released
    0  not ours (already expired or taken): nothing changed
]]
--@include fence
if holdsLease(KEYS[1], ARGV[1]) then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
