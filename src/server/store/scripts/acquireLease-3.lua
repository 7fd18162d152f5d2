--[[
  Take the leader lease if it is free, with a new fencing epoch.

  Input:
    KEYS[1] leader key        {lic:<c>}:leader
    KEYS[2] epoch counter     {lic:<c>}:epoch
    KEYS[3] leader info hash  {lic:<c>}:leader_info
    ARGV[1] node id
    ARGV[2] lease TTL, ms
    ARGV[3] highest epoch the node has seen (its own state dir, peer heartbeats)
    ARGV[4] advertised address of the node
    ARGV[5] role
    ARGV[6] now, wall ms (for the info hash only)

  Output:
    {1, epoch}                            acquired; epoch = max(counter, known) + 1
    {0, holder, pttl_ms, holder_addr}     held by `holder` (`<node>:<epoch>`)

  Epochs never repeat: even if Redis lost its counter, the node's own memory of the
  highest epoch keeps the next one above every epoch ever handed out.
]]
local current = redis.call('GET', KEYS[1])
if current then
  local addr = redis.call('HGET', KEYS[3], 'addr')
  local owner = redis.call('HGET', KEYS[3], 'owner')
  if owner ~= current then addr = '' end
  return {0, current, redis.call('PTTL', KEYS[1]), addr or ''}
end
local epoch = tonumber(redis.call('GET', KEYS[2]) or '0')
local known = tonumber(ARGV[3])
if known > epoch then epoch = known end
epoch = epoch + 1
local owner = ARGV[1] .. ':' .. epoch
redis.call('SET', KEYS[2], epoch)
redis.call('SET', KEYS[1], owner, 'PX', ARGV[2])
redis.call('HSET', KEYS[3], 'owner', owner, 'node_id', ARGV[1], 'epoch', epoch,
  'addr', ARGV[4], 'role', ARGV[5], 'acquired_at_ms', ARGV[6])
return {1, epoch}
