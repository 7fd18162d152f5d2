-- The seat policy (LICENSE_POLICY_FILE) inside the checkout and serveQueue scripts: the rules
-- of src/server/policy/policy-decision.ts (decideCheckout), evaluated in the same script as
-- the grant so that no two concurrent checkouts can race past a limit. The messages are the
-- same, word for word (test/integration/policy-scripts.test.ts compares them).
--
-- Counts come from one hash per feature, kept by grantLease and freeLease (includes/sessions.lua):
--   <p>:holders:<feature>  HASH  'u:<user>' -> seats held by sessions of that user,
--                                'h:<host>' -> seats held by sessions on that host
-- Group counts are sums over the group's members, so a policy reload (new groups, new members)
-- needs no recount. A lease remembers who it counted for (fields hu, hh), so freeing it undoes
-- exactly what its grant did.
--
-- Include after `sessions` (holdersKey). The policy arrives as ARGV JSON, compiled for one feature by src/server/policy/policy-script.ts:
--   {"deny": [{"k": kind, "n": name}], "max": [{"s": seats, "per": kind} | {"s": seats, "k": kind, "n": name}],
--    "reserve": [{"s": seats, "k": kind, "n": name}], "groups": [[name, members], ...] (sorted by name)}
-- members is one string, '\n<user>\n<user>\n': membership is one plain find, and only a count
-- needs the names one by one (a list of strings would cost a decode per member on every call).
-- User names cannot contain '\n' (policy names are plain text, no control characters).
-- kind is 'user', 'host' or 'group'.

-- Decodes a compiled feature policy, adding `gm`: group name -> its members string.
local function decodePolicy(json)
  local pol = cjson.decode(json)
  pol.gm = {}
  for _, g in ipairs(pol.groups) do pol.gm[g[1]] = g[2] end
  return pol
end

local function isMember(pol, group, user)
  local members = pol.gm[group]
  return members ~= nil and user ~= '' and string.find(members, '\n' .. user .. '\n', 1, true) ~= nil
end

local function policyPlural(n)
  if n == 1 then return '1 seat' end
  return n .. ' seats'
end

-- A user by its bare name, hosts and groups with their kind (decideCheckout's who()).
local function policyWho(kind, name)
  if kind == 'user' then
    if name == '' then return '(no user name)' end
    return name
  end
  if name == '' then return kind .. ' (no name)' end
  return kind .. ' ' .. name
end

local function namedBy(pol, kind, name, user, host)
  if kind == 'user' then return name == user end
  if kind == 'host' then return name == host end
  return isMember(pol, name, user)
end

-- Seats of the feature held now by a user, a host, or the members of a group.
local function heldBy(p, pol, feature, kind, name)
  local key = holdersKey(p, feature)
  if kind == 'user' then return tonumber(redis.call('HGET', key, 'u:' .. name) or '0') end
  if kind == 'host' then return tonumber(redis.call('HGET', key, 'h:' .. name) or '0') end
  local sum = 0
  local members = pol.gm[name]
  if members and #members > 1 then
    local fields = {}
    for u in string.gmatch(members, '[^\n]+') do fields[#fields + 1] = 'u:' .. u end
    for _, v in ipairs(redis.call('HMGET', key, unpack(fields))) do sum = sum + tonumber(v or '0') end
  end
  return sum
end

--[[
  May `user` on `host` take `count` more seats of `feature` (`seats` licensed, `inUse` held now)?
  Returns nil, ownUnused when the policy allows it (ownUnused: the unused seats of the
  reservations the requester owns, which it may take ahead of a queue; computed only when
  `needOwn`, else 0 whenever the free seats cover every reservation anyway), or a refusal
  {kind, rule, message}: kind 'deny' (PERMISSION_DENIED), 'max' or 'reserve' (RESOURCE_EXHAUSTED).
  Plain capacity (fewer than `count` free) is not the policy's to refuse: nil, 0.
]]
local function policyRefusal(p, pol, feature, user, host, count, seats, inUse, needOwn)
  local base = 'features.' .. feature
  for i, d in ipairs(pol.deny) do
    if namedBy(pol, d.k, d.n, user, host) then
      local rule = base .. '.deny[' .. (i - 1) .. ']'
      local whom
      if d.k == 'group' then whom = 'group ' .. d.n .. ', which ' .. policyWho('user', user) .. ' belongs to'
      else whom = policyWho(d.k, d.n) end
      return {'deny', rule, 'feature ' .. feature .. ': denied to ' .. whom .. ' (policy rule ' .. rule .. ')'}
    end
  end

  for i, m in ipairs(pol.max) do
    local buckets = {}
    if m.per == 'user' then buckets = {{'user', user}}
    elseif m.per == 'host' then buckets = {{'host', host}}
    elseif m.per == 'group' then
      for _, g in ipairs(pol.groups) do
        if isMember(pol, g[1], user) then buckets[#buckets + 1] = {'group', g[1]} end
      end
    elseif namedBy(pol, m.k, m.n, user, host) then buckets = {{m.k, m.n}} end
    for _, b in ipairs(buckets) do
      local held = heldBy(p, pol, feature, b[1], b[2])
      if held + count > m.s then
        local rule = base .. '.max[' .. (i - 1) .. ']'
        local limit
        if m.per then limit = 'max ' .. policyPlural(m.s) .. ' per ' .. m.per
        else limit = 'max ' .. policyPlural(m.s) .. ' for ' .. policyWho(m.k, m.n) end
        local asks = ''
        if count > 1 then asks = ' and asks for ' .. count end
        return {'max', rule, 'feature ' .. feature .. ': ' .. limit .. ' (policy rule ' .. rule .. '); ' .. policyWho(b[1], b[2]) .. ' holds ' .. held .. asks}
      end
    end
  end

  local free = seats - inUse
  if free < count then return nil, 0 end
  if not needOwn and #pol.reserve > 0 then
    -- Enough free seats to leave every reservation whole: anyone may take them, with no need
    -- to count the owners' seats (the common case, while a feature is not nearly full).
    local reservedAll = 0
    for _, r in ipairs(pol.reserve) do reservedAll = reservedAll + r.s end
    if free - reservedAll >= count then return nil, 0 end
  end

  local unusedAll, unusedOwn, unusedOthers = 0, 0, 0
  local blocking, blockingRules = {}, {}
  for j, r in ipairs(pol.reserve) do
    local unused = math.max(0, r.s - heldBy(p, pol, feature, r.k, r.n))
    unusedAll = unusedAll + unused
    if namedBy(pol, r.k, r.n, user, host) then
      unusedOwn = unusedOwn + unused
    elseif unused > 0 then
      unusedOthers = unusedOthers + unused
      local rule = base .. '.reserve[' .. (j - 1) .. ']'
      blockingRules[#blockingRules + 1] = rule
      blocking[#blocking + 1] = rule .. ': ' .. policyPlural(r.s) .. ' for ' .. policyWho(r.k, r.n) .. ', ' .. unused .. ' unused'
    end
  end
  -- Own unused seats count whole even when the reservations add up to more than is free.
  local mayTake = unusedOwn + math.max(0, free - unusedAll)
  if mayTake >= count then return nil, unusedOwn end
  local freeWord = 'seats'
  if free == 1 then freeWord = 'seat' end
  local rules = 'rule'
  if #blocking > 1 then rules = 'rules' end
  return {'reserve', table.concat(blockingRules, ', '),
    'feature ' .. feature .. ': ' .. free .. ' free ' .. freeWord .. ', ' .. unusedOthers .. ' reserved for others (policy ' .. rules .. ' ' ..
    table.concat(blocking, '; ') .. '); ' .. policyWho('user', user) .. ' can take ' .. mayTake .. ' and asks for ' .. count}
end

-- The usage event reason and the error reply of a refusal.
local function policyReason(refusal)
  if refusal[1] == 'deny' then return 'POLICY_DENIED' end
  return 'POLICY_LIMIT'
end

local function policyError(refusal)
  return redis.error_reply('POLICY_LIMIT ' .. refusal[1] .. '|' .. refusal[2] .. '|' .. refusal[3])
end
