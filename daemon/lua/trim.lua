--[[ trim.lua: keep the streams bounded, and lose nothing unread without
saying so.  Run by every instance every [retention] interval_ms; the
maintenance lock makes one run per interval for the whole deployment.

- jobs: trimmed behind what rosterd's group has acknowledged (its oldest
  pending entry, else what follows its last delivered one);
- dead letters: at most dead_max, none older than dead_max_age;
- diffs: trimmed up to the oldest entry that some consumer group of the
  app still needs (its oldest pending entry, else what follows its last
  delivered one); then, as a safety cap, to diffs_max entries.  A group
  whose needed diffs the cap drops is told: its name and the first id it
  lost go into the lost hash (kept until the app deletes the field), and
  an event {"event":"diffs_lost","group":...,"first_lost":...,
  "resume_from":...} is published.  Without any group only the cap trims.

KEYS[1]   the jobs stream
KEYS[2]   the dead-letter stream
KEYS[3]   the diffs stream
KEYS[4]   the lost hash: group -> first diff id it lost  (prefix diffs_lost)
KEYS[5]   the maintenance lock                           (prefix trim_lock)
ARGV[1]   rosterd's consumer group
ARGV[2]   the interval, ms (the lock's expiry)
ARGV[3]   dead_max, entries
ARGV[4]   dead_max_age, ms
ARGV[5]   diffs_max, entries (the safety cap); 0: no cap
ARGV[6]   events channel

Returns {jobs trimmed, dead letters trimmed, diffs trimmed, groups that
lost diffs}, or {-1} when another run holds the interval.

Atomic because what a group needs and the trim must be one step: a group
that read in between could otherwise have its next diffs cut away.
]]
--@include "include/common.lua"
--@include "include/streams.lua"
if not redis.call('SET', KEYS[5], '1', 'NX', 'PX', ARGV[2]) then return {-1} end

-- each group of a stream with the oldest id it still needs
local function needs(stream)
  local out = {}
  if redis.call('EXISTS', stream) == 0 then return out end
  for _, g in ipairs(redis.call('XINFO', 'GROUPS', stream)) do
    local f = {}
    for i = 1, #g, 2 do f[g[i]] = g[i+1] end
    local p = redis.call('XPENDING', stream, f['name'])
    local need = id_after(f['last-delivered-id'])
    if tonumber(p[1]) > 0 and id_before(p[2], need) then need = p[2] end
    out[#out+1] = {name = f['name'], need = need}
  end
  return out
end
local function oldest(ns)
  local m
  for _, n in ipairs(ns) do
    if not m or id_before(n.need, m) then m = n.need end
  end
  return m
end

local jobs, dead, diffs, lost = 0, 0, 0, 0
local m = oldest(needs(KEYS[1]))
if m then jobs = redis.call('XTRIM', KEYS[1], 'MINID', m) end

dead = redis.call('XTRIM', KEYS[2], 'MAXLEN', ARGV[3])
dead = dead + redis.call('XTRIM', KEYS[2], 'MINID',
  string.format('%d-0', math.max(0, now_ms() - tonumber(ARGV[4]))))

local ns = needs(KEYS[3])
m = oldest(ns)
if m then diffs = redis.call('XTRIM', KEYS[3], 'MINID', m) end
local capped = 0
if tonumber(ARGV[5]) > 0 and redis.call('XLEN', KEYS[3]) > tonumber(ARGV[5]) then
  -- each group's first unread diff, before the cap may take it
  for _, n in ipairs(ns) do
    local e = redis.call('XRANGE', KEYS[3], n.need, '+', 'COUNT', 1)[1]
    n.first = e and e[1]
  end
  capped = redis.call('XTRIM', KEYS[3], 'MAXLEN', ARGV[5])
end
if capped > 0 then
  diffs = diffs + capped
  -- the cap keeps at least one entry: the oldest kept is where to resume
  local kept = redis.call('XRANGE', KEYS[3], '-', '+', 'COUNT', 1)[1][1]
  for _, n in ipairs(ns) do
    if n.first and id_before(n.first, kept) then
      lost = lost + 1
      redis.call('HSETNX', KEYS[4], n.name, n.first)
      publish(ARGV[6], {event = 'diffs_lost', group = n.name, first_lost = n.first,
        resume_from = kept})
    end
  end
end
return {jobs, dead, diffs, lost}
