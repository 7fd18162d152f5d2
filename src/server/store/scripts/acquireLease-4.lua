--[[
  Take the leader lease if it is free, with a new fencing epoch.

  Input:
    KEYS[1] leader key        {lic:<c>}:leader
    KEYS[2] epoch counter     {lic:<c>}:epoch
    KEYS[3] leader info hash  {lic:<c>}:leader_info
    KEYS[4] license serial    {lic:<c>}:license_serial
    ARGV[1] node id
    ARGV[2] lease TTL, ms
    ARGV[3] highest epoch the node has seen (its own state dir, peer heartbeats)
    ARGV[4] advertised address of the node
    ARGV[5] role
    ARGV[6] now, wall ms (for the info hash only)
    ARGV[7] the serial of the node's license file
    ARGV[8] early takeover: the owner (`<node>:<epoch>`) this node saw holding the lease
            after the holder's port refused connections, or '' (a plain acquire)
    ARGV[9] early takeover: the holder's renewal count seen then (info hash `renewals`)

  Output:
    {1, epoch, taken_over}                acquired; epoch = max(counter, known) + 1; taken_over 1
                                          when it replaced a held lease (early takeover), else 0
    {0, holder, pttl_ms, holder_addr}     held by `holder` (`<node>:<epoch>`)
    {2, highest_serial}                   not taken: a newer license (higher serial, as digits) is in use

  The node's serial is recorded first (raised, never lowered: includes/serial.lua), held
  lease or not; a node whose license is older than the cluster's newest never takes the
  lease, checked here in the same script so no newer serial can slip in between.

  Errors: LICENSE_INVALID when ARGV[7] is not a serial (nothing is written then);
  EPOCH_OUT_OF_RANGE when the counter or the known epoch is not a whole number below
  2^48, or the new epoch would reach 2^48 (the lease, counter and info are not touched
  then; the serial was recorded all the same).

  Early takeover: a held lease is replaced as if it were free when it is still held by
  exactly ARGV[8] and its renewal count is still ARGV[9], i.e. the holder has not renewed
  since its death was suspected. A wrong suspicion costs nothing worse than a failover:
  every write of the old holder is fenced (STALE_EPOCH) from here on.

  Epochs never repeat: even if Redis lost its counter, the node's own memory of the
  highest epoch keeps the next one above every epoch ever handed out.

  Epochs are whole numbers in [0, 2^48) (src/server/store/fence.ts). Every epoch that
  becomes a string here goes through string.format('%d'): Lua 5.1 turns a number into a
  string with %.14g, which writes a 15-digit epoch as 1e+15, and an owner string
  `<node>:1e+15` would never equal the one the node sends with its renewals and writes.
]]
local LIMIT = 281474976710656 -- 2^48

-- The value as an epoch, or nil when it is not a whole number in [0, LIMIT)
-- (tonumber also accepts 'inf', 'nan', '1e+15' and '0x10': range and wholeness decide).
local function toEpoch(value)
  local n = tonumber(value)
  if n == nil or n ~= n or n < 0 or n >= LIMIT or n ~= math.floor(n) then return nil end
  return n
end

--@include serial
local serial = toSerial(ARGV[7])
if serial == nil then
  return redis.error_reply('LICENSE_INVALID the license serial "' .. ARGV[7] .. '" is not a whole number of at least 1')
end
local highest = recordSerial(KEYS[4], serial)
if serial < highest then return {2, string.format('%d', highest)} end

local current = redis.call('GET', KEYS[1])
local takeover = current ~= nil and current ~= false and ARGV[8] ~= nil and ARGV[8] ~= '' and current == ARGV[8]
  and redis.call('HGET', KEYS[3], 'owner') == current
  and (redis.call('HGET', KEYS[3], 'renewals') or '0') == ARGV[9]
if current and not takeover then
  local addr = redis.call('HGET', KEYS[3], 'addr')
  local owner = redis.call('HGET', KEYS[3], 'owner')
  if owner ~= current then addr = '' end
  return {0, current, redis.call('PTTL', KEYS[1]), addr or ''}
end
local counter = redis.call('GET', KEYS[2]) or '0'
local epoch = toEpoch(counter)
if epoch == nil then
  return redis.error_reply('EPOCH_OUT_OF_RANGE the epoch counter ' .. KEYS[2] .. ' holds "' .. counter ..
    '", not a whole number below 2^48: set it to one above every epoch the cluster really used (the last newEpoch the nodes logged)')
end
local known = toEpoch(ARGV[3])
if known == nil then
  return redis.error_reply('EPOCH_OUT_OF_RANGE the highest epoch this node has seen, "' .. ARGV[3] .. '", is not a whole number below 2^48')
end
if known > epoch then epoch = known end
epoch = epoch + 1
if epoch >= LIMIT then
  return redis.error_reply('EPOCH_OUT_OF_RANGE the next epoch would reach 2^48; refusing to take the lease')
end
local epochStr = string.format('%d', epoch)
local owner = ARGV[1] .. ':' .. epochStr
redis.call('SET', KEYS[2], epochStr)
redis.call('SET', KEYS[1], owner, 'PX', ARGV[2])
redis.call('HSET', KEYS[3], 'owner', owner, 'node_id', ARGV[1], 'epoch', epochStr,
  'addr', ARGV[4], 'role', ARGV[5], 'acquired_at_ms', ARGV[6], 'renewals', '0')
return {1, epoch, takeover and 1 or 0}
