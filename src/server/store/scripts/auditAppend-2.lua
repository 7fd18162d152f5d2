--[[
  Append one entry to the budget's audit trail (a hash chain, src/server/budget/audit-chain.ts).
  Only the lease holder appends, and only onto the stream's last entry, so the chain in Redis
  stays linear: a second writer, or a node whose copy disagrees with Redis, is refused.

  Input:
    KEYS[1] leader key   KEYS[2] audit stream {lic:<c>}:audit
    ARGV[1] owner (fencing)
    ARGV[2] the entry's seq (the stream id is <seq>-0, so ranges by seq need no index)
    ARGV[3] the entry's prev (hash of the entry it follows)
    ARGV[4] the entry's hash
    ARGV[5] the entry, JSON
    ARGV[6] approximate MAXLEN of the stream

  Output: 1 appended; 0 the stream's last entry is this one already (a retry after a lost reply)
  Errors: STALE_EPOCH; AUDIT_CONFLICT <seq> <hash> of the stream's last entry when it is not
  the entry named by prev (an empty stream, after Redis lost its data, takes any prev)
]]
--@include fence
if not holdsLease(KEYS[1], ARGV[1]) then return staleEpoch() end
local last = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)
if #last > 0 then
  local fields, lastHash = last[1][2], ''
  for i = 1, #fields - 1, 2 do
    if fields[i] == 'hash' then lastHash = fields[i + 1] end
  end
  if lastHash == ARGV[4] then return 0 end
  if lastHash ~= ARGV[3] then
    return redis.error_reply('AUDIT_CONFLICT ' .. string.match(last[1][1], '^(%d+)') .. ' ' .. lastHash)
  end
end
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[6], ARGV[2] .. '-0', 'hash', ARGV[4], 'entry', ARGV[5])
return 1
