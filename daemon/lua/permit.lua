--[[ permit.lua: take up to n request PERMITS for one token from every
rate-limit bucket its requests fall in, which every rosterd instance
shares: the token's own buckets (Clever's "bearer": one window per token)
and the buckets the whole application shares (the same bucket under every
token).  Windows open with the first request, as Clever's do, and last
window ms; observe.lua corrects them from Clever's headers and learns which
buckets exist.  A request is granted only when every bucket has room, so
each draws from all of them.  While a bucket is blocked (after a 429, or
when Clever said nothing remains) nothing is granted.

Cold: until Clever's headers have told which app-wide buckets exist and
where their windows stand (rosterd's start, a new window of theirs), at
most as many requests go out as the tightest bucket known (or the
configured limit) allows, so that a burst never overruns a bucket not
learned yet.  The permits granted cold (cold_used) count in every bucket
observe.lua learns from the first answers, which Clever may have sent
before the rest of those requests arrived: they are never granted again.
Without any answer they are forgotten only once a whole window (and the
reset's second) has passed since the first of them, when their window
has ended whatever Clever's.  Such permits, and those of a window Clever's headers have
not spoken of yet (its end is then ours, which may come a little before
Clever's: its window opened when our request arrived), ask for their
responses to be observed.

KEYS[1]   the token's scope hash             (prefix ratelimit:{rl}:OWNER,
          OWNER being teacher:ID or district:ID; never the token itself)
KEYS[2]   the application's scope hash       (prefix ratelimit:{rl}:app)
ARGV[1]   n, the permits wanted
ARGV[2]   the token's limit per window until Clever's headers say otherwise
ARGV[3]   the window, ms
ARGV[4]   the share of each window these requests may use, percent: 100
          for the app's; less for scheduled syncs ([schedule]
          rate_share_pct), which so leave the rest of every window to the
          app's requests

Scope hashes: see include/buckets.lua.  The app's also holds known_until
(ms: until then its buckets are known), cold_used and cold_since (permits
granted while cold, since when).

Returns {granted, wait, cold}: granted may be fewer than n once a window
runs out; wait is 0 when all were granted, else the ms until asking for the
rest may succeed; cold is 1 when the responses must be observed (above).

Atomic because instances draw from the same windows at once: the read of
what is used and the increments must be one step, or a limit is exceeded.
]]
--@include "include/common.lua"
--@include "include/buckets.lua"
local COLD_POLL_MS = 50
local now, n, window = now_ms(), tonumber(ARGV[1]), tonumber(ARGV[3])
local share = tonumber(ARGV[4]) / 100
local all = {}
load_buckets(all, KEYS[1], 'bearer', tonumber(ARGV[2]))
load_buckets(all, KEYS[2], nil, nil)
local granted, tightest = n, tonumber(ARGV[2])
for _, b in ipairs(all) do
  if b.blocked > now then
    b.room, b.free_at = 0, b.blocked
  else
    if now >= b.reset then b.reset = now + window; b.used = 0; b.seen = false end
    b.room, b.free_at = math.floor(b.limit * share) - b.used, b.reset
  end
  if b.limit > 0 then tightest = math.min(tightest, b.limit) end
  granted = math.min(granted, math.max(b.room, 0))
end
local app = redis.call('HMGET', KEYS[2], 'known_until', 'cold_used', 'cold_since')
local cold = tonumber(app[1] or 0) <= now
local cold_used, cold_since = tonumber(app[2] or 0), tonumber(app[3] or 0)
if cold then
  -- observations that never came (requests lost): their window is over
  if cold_since + window + 1000 <= now then cold_used = 0; cold_since = now end
  granted = math.min(granted, math.max(tightest - cold_used, 0))
end
local unseen = false
for _, b in ipairs(all) do unseen = unseen or not b.seen end
local wait = 0
if granted < n then
  for _, b in ipairs(all) do
    if b.room <= granted then wait = math.max(wait, b.free_at - now) end
  end
  if cold and tightest - cold_used <= granted then
    wait = math.max(wait, COLD_POLL_MS)
  end
  wait = math.max(wait, 1)
end
if granted > 0 then
  for _, b in ipairs(all) do
    b.used = b.used + granted
    save_bucket(b)
  end
  if cold then
    redis.call('HSET', KEYS[2], 'cold_used', cold_used + granted, 'cold_since', cold_since)
  end
end
for i = 1, 2 do redis.call('PEXPIRE', KEYS[i], 3 * window) end
return {granted, wait, (cold or unseen) and 1 or 0}
