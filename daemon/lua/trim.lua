--[[ trim.lua: keep the streams bounded, and lose nothing unread without
saying so.  Run by every instance every [retention] interval_ms; the
maintenance lock makes one run per interval for the whole deployment.

- jobs: trimmed behind what rosterd's group has acknowledged (its oldest
  pending entry, else what follows its last delivered one);
- dead letters: at most dead_max, none older than dead_max_age;
- diffs, each partition's stream on its own: trimmed up to the oldest
  entry that some consumer group of the app still needs (its oldest
  pending entry, else what follows its last delivered one); then, as a
  safety cap, to diffs_max entries shared evenly by the partitions (each
  keeps at most ceil(diffs_max / N)).  A group whose needed diffs the cap
  drops is told: in the lost hash, field GROUP (one partition) or
  GROUP:P (partition P), the JSON {"first_lost":ID,"resume_from":ID,
  "at_ms":MS} (kept until the app deletes the field; a later loss before
  then keeps first_lost and moves resume_from and at_ms), and an event
  {"event":"diffs_lost","group":...,"field":...,"partition":P (N > 1),
  "first_lost":...,"resume_from":...,"at_ms":...} is published.  Without
  any group only the cap trims.

KEYS[1]   the jobs stream
KEYS[2]   the dead-letter stream
KEYS[3]   the lost hash                   (prefix diffs_lost)
KEYS[4]   the maintenance lock            (prefix trim_lock)
KEYS[5..] the diff streams, partition 0 first (prefix diffs, or diffs:P)
ARGV[1]   rosterd's consumer group
ARGV[2]   the interval, ms (the lock's expiry)
ARGV[3]   dead_max, entries
ARGV[4]   dead_max_age, ms
ARGV[5]   diffs_max, entries (the safety cap, all partitions); 0: no cap
ARGV[6]   events channel

Returns {jobs trimmed, dead letters trimmed, diffs trimmed, groups that
lost diffs (one per group and partition)}, or {-1} when another run holds
the interval.

Atomic because what a group needs and the trim must be one step: a group
that read in between could otherwise have its next diffs cut away.
]]
--@include "include/common.lua"
--@include "include/streams.lua"
if not redis.call('SET', KEYS[4], '1', 'NX', 'PX', ARGV[2]) then return {-1} end

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

-- what the app's group lost, kept until the app deletes the field: the
-- first loss since, and where to read on after this one
local function lost_json(field, first, kept, now)
  local prev = redis.call('HGET', KEYS[3], field)
  if prev then
    -- version 1 wrote the bare id
    first = string.match(prev, '"first_lost":"([^"]+)"') or
      (string.match(prev, '^[%d]+%-[%d]+$') and prev) or first
  end
  return string.format('{"first_lost":"%s","resume_from":"%s","at_ms":%d}',
    first, kept, now)
end

-- trim one partition's stream; returns {trimmed, groups that lost diffs}
local function trim_diffs(stream, p, nparts, cap)
  local trimmed, lost = 0, 0
  local ns = needs(stream)
  local m = oldest(ns)
  if m then trimmed = redis.call('XTRIM', stream, 'MINID', m) end
  if cap <= 0 or redis.call('XLEN', stream) <= cap then return trimmed, 0 end
  -- each group's first unread diff, before the cap may take it
  for _, n in ipairs(ns) do
    local e = redis.call('XRANGE', stream, n.need, '+', 'COUNT', 1)[1]
    n.first = e and e[1]
  end
  local capped = redis.call('XTRIM', stream, 'MAXLEN', cap)
  if capped == 0 then return trimmed, 0 end
  -- the cap keeps at least one entry: the oldest kept is where to resume
  local kept = redis.call('XRANGE', stream, '-', '+', 'COUNT', 1)[1][1]
  local now = now_ms()
  for _, n in ipairs(ns) do
    if n.first and id_before(n.first, kept) then
      lost = lost + 1
      local field = nparts > 1 and (n.name .. ':' .. p) or n.name
      redis.call('HSET', KEYS[3], field, lost_json(field, n.first, kept, now))
      publish(ARGV[6], {event = 'diffs_lost', group = n.name, field = field,
        partition = nparts > 1 and p or nil, first_lost = n.first,
        resume_from = kept, at_ms = now})
    end
  end
  return trimmed + capped, lost
end

local jobs, dead, diffs, lost = 0, 0, 0, 0
local m = oldest(needs(KEYS[1]))
if m then jobs = redis.call('XTRIM', KEYS[1], 'MINID', m) end

dead = redis.call('XTRIM', KEYS[2], 'MAXLEN', ARGV[3])
dead = dead + redis.call('XTRIM', KEYS[2], 'MINID',
  string.format('%d-0', math.max(0, now_ms() - tonumber(ARGV[4]))))

local nparts = #KEYS - 4
local cap = math.ceil(tonumber(ARGV[5]) / nparts)
for p = 0, nparts - 1 do
  local t, l = trim_diffs(KEYS[5 + p], p, nparts, cap)
  diffs, lost = diffs + t, lost + l
end
return {jobs, dead, diffs, lost}
