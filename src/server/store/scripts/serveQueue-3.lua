--[[
  Serve one feature's queue: while its head fits in the free seats, grant it exactly as a
  checkout would (lease hash, lease index, used counter, holders, session seats, request id
  mapping, session renewed), oldest first. Heads that can never be granted (deadline passed,
  session expired or gone) leave on the way. A head that does not fit stops the walk: strict
  FIFO, no smaller checkout behind it goes first.

  Seat policy (ARGV[9], as in checkout-3.lua): a waiter a deny or max rule now refuses (the
  policy changed while it waited, or a grant to another checkout of its user came first) leaves
  with the rule's refusal. A waiter whose seats the reservations keep for others stays queued,
  and from there on only waiters whose own reservations cover them are granted past it: the
  unused seats of a reservation are not the queue's. The walk then ends with this batch.

  Input:
    KEYS[1] leader key   KEYS[2] sessions zset   KEYS[3] used hash
    ARGV[1] owner (fencing)  ARGV[2] prefix  ARGV[3] feature  ARGV[4] seats licensed
    ARGV[5] now ms  ARGV[6] session ttl ms  ARGV[7] limit: queue entries looked at, at most
    ARGV[8] reclaim limit: expired sessions freed once when the head does not fit
    ARGV[9] the feature's seat policy, compiled ('' = no rules)

  Output: {more (1 when the limit stopped the walk), then per waiter that left the queue:
           waiter id, lease id ('' unless granted), count, expires_at_ms (0 unless granted),
           reason ('' granted, QUEUE_TIMEOUT, SESSION_GONE, or
           'POLICY_LIMIT <deny|max>|<rule>|<message>')}
  Usage events: per grant 'grant' then 'queue' (w = ms waited, l = the lease); per waiter
  dropped 'queue' with the reason (QUEUE_TIMEOUT, SESSION_GONE, POLICY_LIMIT, POLICY_DENIED)
  and no lease.
  Errors: STALE_EPOCH
  Cost: O(ARGV[7] x log queue) plus at most one reclaim batch of ARGV[8] sessions, whatever
  the queue's length.
]]
--@include fence
--@include sessions
--@include policy
if not holdsLease(KEYS[1], ARGV[1]) then return staleEpoch() end
local p, feature, seats, now, ttl = ARGV[2], ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local limit, reclaimLimit = tonumber(ARGV[7]), tonumber(ARGV[8])
local pol = nil
if ARGV[9] ~= '' then pol = decodePolicy(ARGV[9]) end
local qKey = queueKey(p, feature)
local out = {0}
local reclaimed = false
-- A waiter ahead waits for seats the reservations keep for others: only owners pass it now.
local passed = false
local stopped = false
local function left(wid, lid, count, expires, reason)
  out[#out + 1] = wid
  out[#out + 1] = lid
  out[#out + 1] = count
  out[#out + 1] = expires
  out[#out + 1] = reason
end

local wids = redis.call('ZRANGE', qKey, 0, limit - 1)
for _, wid in ipairs(wids) do
  local w = readWaiter(p, wid)
  local dropped = dropDeadWaiter(p, KEYS[2], feature, wid, w, now)
  if dropped then
    if dropped ~= '' then left(wid, '', tonumber(w[3]), 0, dropped) end
  else
    local sid, count, lid = w[1], tonumber(w[3]), w[5]
    local used = tonumber(redis.call('HGET', KEYS[3], feature) or '0')
    if used + count > seats and not reclaimed then
      -- Some of those seats may belong to expired sessions the sweep has not reaped yet.
      reclaimed = true
      reclaimExpired(p, KEYS[2], KEYS[3], now, reclaimLimit)
      used = tonumber(redis.call('HGET', KEYS[3], feature) or '0')
    end
    if used + count > seats then
      stopped = true
      break
    end
    local who = sessionWho(p, sid)
    local refusal, ownUnused = nil, 0
    if pol then
      refusal, ownUnused = policyRefusal(p, pol, feature, who[2], who[3], count, seats, used, passed)
      ownUnused = ownUnused or 0
    end
    if refusal and refusal[1] ~= 'reserve' then
      unqueue(p, wid, w, now, nil, policyReason(refusal), who)
      left(wid, '', count, 0, 'POLICY_LIMIT ' .. refusal[1] .. '|' .. refusal[2] .. '|' .. refusal[3])
    elseif refusal or (passed and ownUnused < count) then
      passed = true
    else
      local expires = now + ttl
      grantLease(p, KEYS[2], KEYS[3], sid, feature, count, w[4] or '', lid, now, expires, who)
      unqueue(p, wid, w, now, lid, nil, who)
      left(wid, lid, count, expires, '')
    end
  end
end
if not stopped and not passed and #wids == limit and redis.call('ZCARD', qKey) > 0 then out[1] = 1 end
return out
