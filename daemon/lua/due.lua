--[[ due.lua: which teachers are DUE for a freshness sync (the first half
of a scheduler tick; claim.lua claims them).

Scheduled work yields to the app: while rosterd's group has entries of the
job stream not delivered yet (the app's requests waiting for a free slot,
or scheduled jobs an instance has not read yet), nothing is due.  Members
planned under a longer interval than the current one (the configuration
changed) are planned again first, so that shortening the interval takes
effect at once.

KEYS[1]   the schedule: teacher -> due time, ms  (prefix schedule)
KEYS[2]   the jobs stream
KEYS[3]   the districts synced as units (prefix districts, the app's)
KEYS[4]   the members that left the schedule (prefix schedule:left)
ARGV[1]   rosterd's consumer group
ARGV[2]   n, the most teachers to return
ARGV[3]   the interval, ms
ARGV[4]   the jitter, ms

Each district of KEYS[3] is planned as one member, 'district:D' (a
district job for it, claim.lua), unless it left the schedule (its token
refused or missing, fail.lua).

Returns {yielded, replanned, teacher...}: yielded is 1 when teachers are
due but the app's requests wait (no teacher returned then), replanned how many members were
planned again.  A member that is not a teacher id (1-64 letters, digits,
'_' or '-') is removed instead of returned.

Atomic only for the re-planning of each member (one ZADD); the teachers
returned are claimed, or found claimed by another instance, by claim.lua.
]]
--@include "include/common.lua"
--@include "include/streams.lua"
--@include "include/schedule.lua"
local now, n = now_ms(), tonumber(ARGV[2])
local interval, jitter = tonumber(ARGV[3]), tonumber(ARGV[4])

local replanned = 0
for _, t in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. (now + interval + jitter),
    '+inf', 'LIMIT', 0, 100)) do
  redis.call('ZADD', KEYS[1], next_due(t, now, interval, jitter), t)
  replanned = replanned + 1
end

-- the app's requests not delivered yet: the newest entry is past the
-- group's last delivered one (no group: the stream is being set up)
local function backlog(stream, group)
  if redis.call('EXISTS', stream) == 0 then return true end
  local last = redis.call('XREVRANGE', stream, '+', '-', 'COUNT', 1)[1]
  for _, g in ipairs(redis.call('XINFO', 'GROUPS', stream)) do
    local f = {}
    for i = 1, #g, 2 do f[g[i]] = g[i+1] end
    if f['name'] == group then
      return last ~= nil and id_before(f['last-delivered-id'], last[1])
    end
  end
  return true
end

for _, d in ipairs(redis.call('SMEMBERS', KEYS[3])) do
  local m = 'district:' .. d
  if #d <= 55 and string.match(d, '^[%w_-]+$') and not redis.call('ZSCORE', KEYS[4], m) then
    redis.call('ZADD', KEYS[1], 'NX', next_due(m, now, interval, jitter), m)
  end
end

if n <= 0 then return {0, replanned} end
local out = {0, replanned}
for _, t in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, n)) do
  -- only rosterd writes the set, but Redis is shared: what is not a
  -- teacher id goes, rather than stay due for ever
  if #t <= 64 and (string.match(t, '^[%w_-]+$') or string.match(t, '^district:[%w_-]+$')) then
    out[#out+1] = t
  else
    redis.call('ZREM', KEYS[1], t)
  end
end
-- the stream is looked at only when someone is due: most ticks find no one
if #out > 2 and backlog(KEYS[2], ARGV[1]) then return {1, replanned} end
return out
