--[[ enroll.lua: ENROLL in the freshness schedule the teachers rosterd had
synced before the schedule existed (a deployment upgraded to it): every
instance walks the snapshot keys with SCAN at start-up, from the cursor
the deployment has reached, and hands each batch of teachers found to
this script with the cursor it started from and the one SCAN returned.
Teachers already planned, or that left the schedule, are left as they
are.

KEYS[1]       the freshness schedule             (prefix schedule)
KEYS[2]       the teachers that left it          (prefix schedule:left)
KEYS[3]       how far the walk is: a SCAN cursor, or 'done'
                                                 (prefix schedule:enrolled)
ARGV[1]       the cursor this batch was scanned from
ARGV[2]       the cursor SCAN returned ('0': the walk is over)
ARGV[3]       the interval, ms
ARGV[4]       the jitter, ms
ARGV[5..]     the teachers found

Returns {enrolled, cursor}: how many teachers joined, and the cursor to
scan from next ('done': nothing left; another instance may have gone
further, in which case nothing is written and its cursor is returned).

Atomic because the check of the deployment's cursor and its move must be
one step with the enrolment: two instances walking at once never skip a
batch, and do each batch once.
]]
--@include "include/common.lua"
--@include "include/schedule.lua"
local at = redis.call('GET', KEYS[3]) or '0'
if at ~= ARGV[1] then return {0, at} end
local now, interval, jitter = now_ms(), tonumber(ARGV[3]), tonumber(ARGV[4])
local n = 0
for i = 5, #ARGV do
  local t = ARGV[i]
  if not redis.call('ZSCORE', KEYS[2], t) then
    n = n + redis.call('ZADD', KEYS[1], 'NX', next_due(t, now, interval, jitter), t)
  end
end
local next = ARGV[2] == '0' and 'done' or ARGV[2]
redis.call('SET', KEYS[3], next)
return {n, next}
