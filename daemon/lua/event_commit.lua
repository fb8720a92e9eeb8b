--[[ event_commit.lua: COMMIT one batch of a district's Clever events:
the jobs it calls for are added to the job stream and the district's
events cursor moves past the batch, in one step (events.c).

KEYS[1]   the district's events cursor, hash  (prefix event_cursor:{DISTRICT})
KEYS[2]   the district's poller lock          (prefix event_lock:{DISTRICT})
KEYS[3]   the jobs stream
KEYS[4]   the app's choices for the district  (prefix district:{DISTRICT})
KEYS[5]   the teachers the app follows there  (prefix district_teachers:{DISTRICT})
ARGV[1]   our lock value: this instance's consumer name
ARGV[2]   the district id
ARGV[3]   the cursor's last_id the batch was read after, as read before
          the poll ('' when the cursor had none: the start of the events)
ARGV[4]   the cursor's new last_id: the batch's last event ('' stays at
          the start)
ARGV[5]   what the batch calls for: 'teachers' (a sync job per teacher
          below that the app follows), 'district' (one district job: the
          fallback), 'bulk' (one district job: the cheaper way, chosen
          by events.c), 'start' (no job: the cursor's first position)
ARGV[6]   why, for 'district', 'bulk' and 'start' (kept in the cursor);
          else ''
ARGV[7]   the number of events in the batch
ARGV[8]   the requests of the district's last pull as events.c knows
          them, kept in the cursor (bulk_requests) for when its job
          status has expired; 0: not known (the cursor's stays)
ARGV[9]   n, the number of teachers
ARGV[9+i] teacher i (duplicates are added once)

Jobs: 'kind sync teacher T district D trigger events' for each teacher
the app follows in the district (field follow of KEYS[4]: 'all', the
default, or 'set': the members of KEYS[5]); 'kind district district D
trigger events' for the fallback and the cheaper way.

Returns {status, jobs}: status 1 committed, 0 the lock is not ours (another
instance polls the district now: nothing written), -1 the cursor is not
where the batch started (moved by another poller: nothing written); jobs
added.

Atomic because the jobs and the cursor must move together: a crash before
the step re-polls the batch (its jobs come again and coalesce with any
still queued), a crash after it has both; never the cursor without the
jobs (events lost) nor the jobs twice for one advance.
]]
--@include "include/common.lua"
if redis.call('GET', KEYS[2]) ~= ARGV[1] then
  return {0, 0}
end
if (redis.call('HGET', KEYS[1], 'last_id') or '') ~= ARGV[3] then
  return {-1, 0}
end
local d, mode = ARGV[2], ARGV[5]
local now, jobs = now_ms(), 0
if mode == 'district' or mode == 'bulk' then
  redis.call('XADD', KEYS[3], '*', 'kind', 'district', 'district', d,
    'trigger', 'events')
  jobs = 1
  local f = mode == 'bulk' and 'bulk' or 'fallback'
  redis.call('HSET', KEYS[1], f .. '_ms', now, f .. '_why', ARGV[6])
  redis.call('HINCRBY', KEYS[1], f .. 's', 1)
elseif mode == 'start' then
  redis.call('HSET', KEYS[1], 'started_ms', now, 'started_why', ARGV[6])
else
  local set = (redis.call('HGET', KEYS[4], 'follow') or 'all') == 'set'
  local seen = {}
  for i = 1, tonumber(ARGV[9]) do
    local t = ARGV[9+i]
    if not seen[t] then
      seen[t] = true
      if not set or redis.call('SISMEMBER', KEYS[5], t) == 1 then
        redis.call('XADD', KEYS[3], '*', 'kind', 'sync', 'teacher', t,
          'district', d, 'trigger', 'events')
        jobs = jobs + 1
      end
    end
  end
end
redis.call('HSET', KEYS[1], 'last_id', ARGV[4], 'polled_ms', now,
  'poller', ARGV[1])
if tonumber(ARGV[8]) > 0 then
  redis.call('HSET', KEYS[1], 'bulk_requests', ARGV[8])
end
redis.call('HINCRBY', KEYS[1], 'events', tonumber(ARGV[7]))
redis.call('HINCRBY', KEYS[1], 'jobs', jobs)
return {1, jobs}
