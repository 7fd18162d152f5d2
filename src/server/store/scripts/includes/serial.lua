-- License serials (the license file's `serial`). The highest serial any node of the
-- cluster has run with is kept in one key, {lic:<c>}:license_serial, and only ever raised,
-- so a node started with an older license learns that a newer one is in use.
local SERIAL_LIMIT = 9007199254740992 -- 2^53: serials are safe integers in JavaScript

-- The value as a serial, or nil when it is not a whole number in [1, 2^53).
local function toSerial(value)
  local n = tonumber(value)
  if n == nil or n ~= n or n < 1 or n >= SERIAL_LIMIT or n ~= math.floor(n) then return nil end
  return n
end

-- Raises the key to `serial` (a valid serial) when that is higher, and returns the highest
-- serial now known. A key holding anything but a serial counts as unset: no node wrote it.
-- Written with %d, since Lua's default %.14g would turn a 15-digit serial into 1e+14.
local function recordSerial(key, serial)
  local known = toSerial(redis.call('GET', key)) or 0
  if serial > known then
    redis.call('SET', key, string.format('%d', serial))
    return serial
  end
  return known
end
