--[[ renew.lua: RENEW the teacher lock that a running sync holds.

KEYS[1]   the teacher lock                   (prefix lock:{TEACHER})
ARGV[1]   our lock value
ARGV[2]   the lock's new TTL, ms

Returns 1 when renewed, 0 when the lock is not ours any more.

Atomic because the check and the extension must be one step: otherwise we
could extend a lock that expired and was taken by another instance.
]]
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
