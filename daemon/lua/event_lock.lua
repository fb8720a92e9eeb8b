--[[ event_lock.lua: TAKE, RENEW or RELEASE a district's events poller
lock: one poller per district for the whole deployment (events.c).

KEYS[1]   the district's poller lock          (prefix event_lock:{DISTRICT})
KEYS[2]   the app's choices for the district  (prefix district:{DISTRICT})
ARGV[1]   our lock value: this instance's consumer name
ARGV[2]   the lock's TTL, ms; 0 releases the lock if it is ours

Returns 2 when the lock was free and is now ours (taken, or taken over
from an instance that stopped renewing it), 1 when it was ours and is
renewed (or released), 0 when another instance holds it, -1 when the app
has not enabled Events for the district (field events of KEYS[2] is not
'1'): the lock is then released if it is ours, so that a district the app
turns Events off for is polled by nobody.

Atomic because the check and the extension must be one step: otherwise we
could extend a lock that expired and was taken by another instance.
]]
local held = redis.call('GET', KEYS[1])
local enabled = redis.call('HGET', KEYS[2], 'events') == '1'
if ARGV[2] == '0' or not enabled then
  if held == ARGV[1] then
    redis.call('DEL', KEYS[1])
  end
  if not enabled then
    return -1
  end
  return held == ARGV[1] and 1 or 0
end
if held == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if held then
  return 0
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 2
