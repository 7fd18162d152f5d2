--[[
  Read-only: one page of the leases not yet freed, with their session's client details, in
  the order of the lease index ('<feature>:<lease id>', lexicographic). A cursor names the last
  index entry a page covered, so pages stay stable while sessions heartbeat (nothing here
  depends on expiry scores) and while leases come and go: a lease held from the first page to
  the last is listed exactly once.

  Input:
    KEYS[1] lease index zset ('<feature>:<lease id>' -> 0)
    ARGV[1] prefix  ARGV[2] now ms  ARGV[3] feature filter ("" = all)
    ARGV[4] cursor: the index entry after which to start ("" = from the beginning)
    ARGV[5] page size (index entries covered by one call; at least 1)

  Output: {next cursor ("" = no more), then flat rows of 10: lease_id, session_id, feature,
          count, client_id, user, hostname, pid, granted_ms, expires_ms}
  Leases of sessions that expired but are not reaped yet are skipped, so a page may hold
  fewer rows than the page size (even none) while the cursor still moves on.
  Cost: O(page size), whatever the number of leases or sessions.
]]
--@readonly
local p, now, only, after, size = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4], math.max(1, tonumber(ARGV[5]))
-- Feature names and lease ids have no ':', and ';' follows ':', so '<f>:' .. '<f>;' is exactly feature f.
local min, max = '-', '+'
if only ~= '' then min, max = '[' .. only .. ':', '(' .. only .. ';' end
if after ~= '' then min = '(' .. after end
local entries = redis.call('ZRANGEBYLEX', KEYS[1], min, max, 'LIMIT', 0, size + 1)
local out = {''}
if #entries > size then out[1] = entries[size] end
for i = 1, math.min(#entries, size) do
  local feature, lid = string.match(entries[i], '^([^:]*):(.*)$')
  local l = redis.call('HMGET', p .. ':lease:' .. lid, 'session_id', 'count', 'granted_ms')
  if l[1] then
    local s = redis.call('HMGET', p .. ':session:' .. l[1], 'client_id', 'user', 'hostname', 'pid', 'expires_ms')
    if s[5] and tonumber(s[5]) > now then
      for _, v in ipairs({lid, l[1], feature, l[2], s[1] or '', s[2] or '', s[3] or '', s[4] or '0', l[3] or '0', s[5]}) do
        out[#out + 1] = v
      end
    end
  end
end
return out
