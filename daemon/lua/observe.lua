--[[ observe.lua: OBSERVE what Clever's X-RateLimit headers said about the
buckets of a response, and adopt it: which buckets exist, their limits,
counts and resets.  A bucket of the token (Clever's "bearer") goes to the
token's scope, any other to the application's, shared by every token.

X-RateLimit-Reset has one-second resolution: the window really ends within
the second after it, so the end of that second is taken.  A reset well past
ours (by more than that second and a quarter window) means Clever's window
already rolled over: ours starts again from its count.  Otherwise the larger count and the later reset win (responses
arrive out of order).  A bucket with nothing left is blocked until its
reset; after a 429 that no bucket explains, the token's buckets are.

Any response ends the application's cold time (see permit.lua): its
buckets are known until the first of their windows ends (a window, when it
has none).  The permits granted cold were counted in no application bucket
(none was known): each bucket learned then counts at least those, whatever
its Remaining says (Clever may have answered the first request before the
others arrived), so that they are never granted again.

KEYS[1]   the token's scope hash             (see permit.lua)
KEYS[2]   the application's scope hash       (see permit.lua)
ARGV[1]   '1' when the response was a 429, else '0'
ARGV[2]   the window, ms (when Clever gave no reset)
ARGV[3]   k, the buckets the response named (0 without headers)
then k times:
          the bucket's name; 't' (the token's) or 'a' (the application's);
          its X-RateLimit-Limit, -Remaining and -Reset (epoch s, 0 unknown)

Returns 0.

Atomic because it is a read-modify-write of the windows that permit.lua
draws from on every instance.
]]
--@include "include/common.lua"
--@include "include/buckets.lua"
local now, window, k = now_ms(), tonumber(ARGV[2]), tonumber(ARGV[3])
local app_until, explained = now + window, false
local cold_used = tonumber(redis.call('HGET', KEYS[2], 'cold_used') or 0)
for i = 0, k - 1 do
  local a = 4 + 5 * i
  local name, key = ARGV[a], ARGV[a + 1] == 'a' and KEYS[2] or KEYS[1]
  local limit, remaining = tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3])
  learn_name(key, name)
  local reset = observe_bucket(key, name, limit, remaining, tonumber(ARGV[a + 4]),
    now, window, key == KEYS[2] and cold_used or 0)
  if key == KEYS[2] then app_until = math.min(app_until, reset) end
  if limit > 0 and remaining <= 0 then
    redis.call('HSET', key, name .. '.blocked', reset)
    explained = true
  end
end
if ARGV[1] == '1' and not explained then
  local mine = {}
  load_buckets(mine, KEYS[1], 'bearer', 0)
  for _, b in ipairs(mine) do
    local until_ = b.reset > now and b.reset or now + window
    redis.call('HSET', KEYS[1], b.name .. '.blocked', until_)
  end
end
redis.call('HSET', KEYS[2], 'known_until', app_until, 'cold_used', 0)
for i = 1, 2 do redis.call('PEXPIRE', KEYS[i], 3 * window) end
return 0
