--[[ claim.lua: CLAIM due teachers for freshness syncs (the second half of
a scheduler tick, after due.lua).  A teacher still due (no other instance
claimed it since) is planned for its next slot and, in the same step, a
sync job is added to the job stream with trigger 'schedule': from there it
is a job like any other (admitted, coalesced, retried, taken over when an
instance dies), so nothing depends on this instance surviving.

No job is added, but the teacher is still planned for its next slot, when
a sync of the teacher is running (its lock is held) or one started less
than jitter ms ago: the teacher is fresh already.

KEYS[1]       the schedule: teacher -> due time, ms  (prefix schedule)
KEYS[2]       the jobs stream
KEYS[2i+1]    teacher i's state hash                 (prefix state:{TEACHER})
KEYS[2i+2]    teacher i's lock                       (prefix lock:{TEACHER})
KEYS[2n+3]    the districts synced as units          (prefix districts)
ARGV[1]       the interval, ms
ARGV[2]       the jitter, ms
ARGV[3]       n, the number of teachers
ARGV[3+i]     teacher i

A member 'district:D' (due.lua) is a district planned as a unit: its
state and lock are the district job's, and the job added a district job.
A teacher whose district (its state's) is such a unit leaves the
schedule instead: the district's job syncs it.

Returns {claimed, fresh}: jobs added, and teachers planned without one.

Atomic because the check that a teacher is still due and the move of its
due time must be one step: two instances ticking at once must never both
add a job for one teacher.
]]
--@include "include/common.lua"
--@include "include/schedule.lua"
--@include "include/batch.lua"
local now = now_ms()
local interval, jitter = tonumber(ARGV[1]), tonumber(ARGV[2])
local units = KEYS[2 * tonumber(ARGV[3]) + 3]
return due_jobs(3, now, 'sync', 'schedule', function(t, sk, lk)
  if not string.match(t, '^district:') then
    local d = redis.call('HGET', sk, 'district')
    if d and redis.call('SISMEMBER', units, d) == 1 then
      redis.call('ZREM', KEYS[1], t)
      return false
    end
  end
  redis.call('ZADD', KEYS[1], next_due(t, now, interval, jitter), t)
  local started = tonumber(redis.call('HGET', sk, 'done_started_ms') or '0')
  local fresh = redis.call('EXISTS', lk) == 1 or started > now - jitter
  return not fresh
end)
