--[[ observe.lua: OBSERVE what Clever's X-RateLimit headers said about a
token's window, and adopt it: its limit, its count and its reset.

X-RateLimit-Reset has one-second resolution: the window really ends within
the second after it, so the end of that second is taken.  A reset well past
ours means Clever's window already rolled over: ours starts again from its
count.  Otherwise the larger count and the later reset win (responses
arrive out of order).  After a 429, or when nothing remains, the window is
blocked until the reset.

KEYS[1]   the token's window hash            (prefix ratelimit:{OWNER};
          see permit.lua)
ARGV[1]   X-RateLimit-Limit; 0 when the response carried no headers
ARGV[2]   X-RateLimit-Remaining
ARGV[3]   X-RateLimit-Reset, epoch seconds; 0 when unknown
ARGV[4]   '1' when the response was a 429, else '0'
ARGV[5]   the window, ms (when Clever gave no reset)

Returns 0.

Atomic because it is a read-modify-write of the window that permit.lua
draws from on every instance.
]]
--@include "include/common.lua"
local now = now_ms()
local limit, remaining = tonumber(ARGV[1]), tonumber(ARGV[2])
local reset = tonumber(ARGV[3]) * 1000 + 1000
local h = redis.call('HMGET', KEYS[1], 'used', 'reset_ms')
local used, ours = tonumber(h[1] or 0), tonumber(h[2] or 0)
if reset <= now then reset = ours end
if reset <= now then reset = now + tonumber(ARGV[5]) end
if limit > 0 then
  if reset > ours + 1000 then
    used = limit - remaining
  else
    used = math.max(used, limit - remaining); reset = math.max(reset, ours)
  end
  redis.call('HSET', KEYS[1], 'limit', limit, 'reset_ms', reset, 'used', used)
end
if ARGV[4] == '1' or (limit > 0 and remaining <= 0) then
  redis.call('HSET', KEYS[1], 'blocked_until', reset)
end
redis.call('PEXPIREAT', KEYS[1], reset + tonumber(ARGV[5]))
return 0
