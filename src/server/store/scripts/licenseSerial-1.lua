--[[
  Record this node's license serial and learn the highest one of the cluster.

  Input:
    KEYS[1] license serial key  {lic:<c>}:license_serial
    ARGV[1] the serial of this node's license file

  Output: the highest serial known for the cluster (at least ARGV[1]), as a string of
  digits (an integer reply loses precision near 2^53 in the client's parser); higher
  than ARGV[1] means a newer license is in use and this node must not serve.

  Errors: LICENSE_INVALID when ARGV[1] is not a whole number in [1, 2^53); nothing is
  written then.

  Not fenced: every node records its serial, holding the lease or not, and the key is
  only ever raised (an atomic max), so no interleaving of two nodes can lower it.
]]
--@include serial
local serial = toSerial(ARGV[1])
if serial == nil then
  return redis.error_reply('LICENSE_INVALID the license serial "' .. ARGV[1] .. '" is not a whole number of at least 1')
end
return string.format('%d', recordSerial(KEYS[1], serial))
