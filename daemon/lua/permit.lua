--[[ permit.lua: take up to n request PERMITS from a token's rate-limit
window, which every rosterd instance shares.  The window opens with the
token's first request, as Clever's does, and lasts window ms; observe.lua
corrects it from what Clever's headers say.  While the window is blocked
(after a 429, or when Clever said nothing remains) nothing is granted.

KEYS[1]   the token's window hash            (prefix ratelimit:{OWNER},
          OWNER being teacher:ID or district:ID; never the token itself)
ARGV[1]   n, the permits wanted
ARGV[2]   the limit per window until Clever's headers say otherwise
ARGV[3]   the window, ms

The hash: reset_ms (end of the window, Redis clock), used, limit,
blocked_until (ms; set by observe.lua).

Returns {granted, wait}: granted may be fewer than n once the window runs
out; wait is 0 when all were granted, else the ms until asking for the rest
may succeed.

Atomic because instances draw from the same window at once: the read of
what is used and the increment must be one step, or the limit is exceeded.
]]
--@include "include/common.lua"
local now, n = now_ms(), tonumber(ARGV[1])
local h = redis.call('HMGET', KEYS[1], 'reset_ms', 'used', 'limit', 'blocked_until')
local reset, used = tonumber(h[1] or 0), tonumber(h[2] or 0)
local limit, blocked = tonumber(h[3] or ARGV[2]), tonumber(h[4] or 0)
if blocked > now then return {0, blocked - now} end
if now >= reset then reset = now + tonumber(ARGV[3]); used = 0 end
local granted = math.max(0, math.min(n, limit - used))
if granted > 0 then
  redis.call('HSET', KEYS[1], 'reset_ms', reset, 'used', used + granted, 'limit', limit)
  redis.call('PEXPIREAT', KEYS[1], reset + tonumber(ARGV[3]))
end
if granted == n then return {granted, 0} end
return {granted, math.max(reset - now, 1)}
