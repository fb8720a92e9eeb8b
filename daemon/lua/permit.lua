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

Priority to the critical path: every call records its token's queued
demand (the permits it asks for, per caller) in the demand hash, for a
short time (until a little after the caller asks again).  The token whose
queued demand over its own limit is largest is the critical path: it
needs the most windows.  Out of every application bucket (and the cold
budget) the permits that token can still use in its own window are kept
for it, at most RESERVE_PCT of the bucket less what it already took, so
the rest is always shared: other tokens get only the room above that
reservation, and ask again shortly (RESERVE_POLL_MS), by when the critical
token has taken its permits or no longer asks.  A token that cannot use
permits now (its own window full) reserves nothing.

KEYS[1]   the token's scope hash             (prefix ratelimit:{rl}:OWNER,
          OWNER being teacher:ID or district:ID; never the token itself)
KEYS[2]   the application's scope hash       (prefix ratelimit:{rl}:app)
KEYS[3]   the demand hash                    (prefix ratelimit:{rl}:demand)
ARGV[1]   n, the permits wanted
ARGV[2]   the token's limit per window until Clever's headers say otherwise
ARGV[3]   the window, ms
ARGV[4]   the share of each window these requests may use, percent: 100
          for the app's; less for scheduled syncs ([schedule]
          rate_share_pct), which so leave the rest of every window to the
          app's requests
ARGV[5]   the caller: unique while it waits (the job's stream entry id)

Scope hashes: see include/buckets.lua.  The app's also holds known_until
(ms: until then its buckets are known), cold_used and cold_since (permits
granted while cold, since when).  The demand hash: per caller waiting,
"d SCOPE CALLER" = "wanted expires_ms"; per token with demand, "b SCOPE" =
"limit used until_ms", its own tightest bucket (used counts as limit while
the bucket is blocked; after until_ms nothing is used).

Returns {granted, wait, cold}: granted may be fewer than n once a window
runs out; wait is 0 when all were granted, else the ms until asking for the
rest may succeed; cold is 1 when the responses must be observed (above).

Atomic because instances draw from the same windows at once: the read of
what is used and the increments must be one step, or a limit is exceeded.
]]
--@include "include/common.lua"
--@include "include/buckets.lua"
local COLD_POLL_MS, RESERVE_POLL_MS, DEMAND_TTL_MS = 50, 100, 2000
local RESERVE_PCT, AHEAD_MS = 75, 1000
local now, n, window = now_ms(), tonumber(ARGV[1]), tonumber(ARGV[3])
local share, me, caller = tonumber(ARGV[4]) / 100, KEYS[1], ARGV[5]
local DKEY = KEYS[3]

-- The queued demand of every token (this call's n counted in) and their
-- own tightest buckets; entries past their time are dropped.
local function demand(own_me)
  redis.call('HSET', DKEY, 'd ' .. me .. ' ' .. caller,
    n .. ' ' .. (now + DEMAND_TTL_MS))
  local h = redis.call('HGETALL', DKEY)
  local dem, own, dead = {}, {}, {}
  for i = 1, #h, 2 do
    local kind, scope = string.match(h[i], '^(%a) (%S+)')
    local v = {}
    for x in string.gmatch(h[i + 1], '%d+') do v[#v + 1] = tonumber(x) end
    if kind == 'd' and v[2] > now then
      dem[scope] = (dem[scope] or 0) + v[1]
    elseif kind == 'b' then
      -- a window of its own about to end (Clever's reset is known to
      -- the second) counts as ended: its next one is the one to serve
      own[scope] = {limit = v[1], used = v[3] > now + AHEAD_MS and v[2] or 0}
    end
    if kind == 'd' and v[2] <= now then dead[#dead + 1] = h[i] end
  end
  for scope in pairs(own) do
    if not dem[scope] then dead[#dead + 1] = 'b ' .. scope; own[scope] = nil end
  end
  if #dead > 0 then redis.call('HDEL', DKEY, unpack(dead)) end
  own[me] = own_me
  return dem, own
end

-- The critical path: the token, other than this one, whose demand over
-- its limit is largest and larger than this one's; nil if this one is.
local function critical(dem, own)
  local best, ratio = nil, dem[me] / math.max(own[me].limit, 1)
  for scope, d in pairs(dem) do
    local o = own[scope]
    if scope ~= me and o and o.limit > 0 and d / o.limit > ratio then
      best, ratio = {limit = o.limit, used = o.used, demand = d}, d / o.limit
    end
  end
  return best
end

-- What a bucket of this limit keeps for the critical token c.
local function reserved(c, limit)
  if c == nil then return 0 end
  local cap = math.floor(limit * RESERVE_PCT / 100) - c.used
  return math.max(math.min(c.limit - c.used, c.demand, cap), 0)
end

local mine, apps = {}, {}
load_buckets(mine, KEYS[1], 'bearer', tonumber(ARGV[2]))
load_buckets(apps, KEYS[2], nil, nil)
local granted, tightest = n, tonumber(ARGV[2])
local own_me = {limit = 0, used = 0, until_ = 0}
local function open(b)
  if b.blocked > now then
    b.room, b.free_at = 0, b.blocked
  else
    if now >= b.reset then b.reset = now + window; b.used = 0; b.seen = false end
    b.room, b.free_at = math.floor(b.limit * share) - b.used, b.reset
  end
  if b.limit > 0 then tightest = math.min(tightest, b.limit) end
end
for _, b in ipairs(mine) do
  open(b)
  local used = b.blocked > now and b.limit or b.used
  if own_me.limit == 0 or b.limit - used < own_me.limit - own_me.used then
    own_me = {limit = b.limit, used = used, until_ = b.free_at}
  end
end
for _, b in ipairs(apps) do open(b) end
local dem, own = demand(own_me)
local c = critical(dem, own)
local all = {}
for _, b in ipairs(mine) do all[#all + 1] = b end
for _, b in ipairs(apps) do
  all[#all + 1] = b
  local r = reserved(c, b.limit)
  if r > 0 and b.room > 0 then
    -- what is kept is free again once the critical token took it
    b.room, b.free_at = b.room - r, math.min(b.free_at, now + RESERVE_POLL_MS)
  end
end
for _, b in ipairs(all) do granted = math.min(granted, math.max(b.room, 0)) end
local app = redis.call('HMGET', KEYS[2], 'known_until', 'cold_used', 'cold_since')
local cold = tonumber(app[1] or 0) <= now
local cold_used, cold_since = tonumber(app[2] or 0), tonumber(app[3] or 0)
local cold_room = 0
if cold then
  -- observations that never came (requests lost): their window is over
  if cold_since + window + 1000 <= now then cold_used = 0; cold_since = now end
  -- nobody knows the critical path yet, and a district token's syncs ask
  -- a lookup later than a Library teacher's: a token whose demand fits in
  -- a window of its own has only the part of the budget never kept
  local budget = tightest
  if dem[me] <= own_me.limit then
    budget = math.floor(tightest * (100 - RESERVE_PCT) / 100)
  end
  cold_room = math.max(budget - cold_used - reserved(c, tightest), 0)
  granted = math.min(granted, cold_room)
end
local unseen = false
for _, b in ipairs(all) do unseen = unseen or not b.seen end
local wait = 0
if granted < n then
  for _, b in ipairs(all) do
    if b.room <= granted then wait = math.max(wait, b.free_at - now) end
  end
  if cold and cold_room <= granted then wait = math.max(wait, COLD_POLL_MS) end
  wait = math.max(wait, 1)
end
if granted > 0 then
  for _, b in ipairs(all) do
    b.used = b.used + granted
    save_bucket(b)
  end
  own_me.used = math.min(own_me.used + granted, own_me.limit)
  if cold then
    redis.call('HSET', KEYS[2], 'cold_used', cold_used + granted, 'cold_since', cold_since)
  end
end
-- this caller's demand now: what it still waits for, until a little after
-- it asks again
local field = 'd ' .. me .. ' ' .. caller
if granted < n then
  redis.call('HSET', DKEY, field, (n - granted) .. ' ' ..
    (now + math.min(wait, window) + DEMAND_TTL_MS),
    'b ' .. me, own_me.limit .. ' ' .. own_me.used .. ' ' .. own_me.until_)
else
  redis.call('HDEL', DKEY, field)
  if dem[me] == n then redis.call('HDEL', DKEY, 'b ' .. me)
  else redis.call('HSET', DKEY, 'b ' .. me,
    own_me.limit .. ' ' .. own_me.used .. ' ' .. own_me.until_) end
end
for i = 1, 3 do redis.call('PEXPIRE', KEYS[i], 3 * window) end
return {granted, wait, (cold or unseen) and 1 or 0}
