--[[ cancel.lua: CANCEL a job the operator no longer wants run (`rosterctl
cancel`): either still queued (in the stream, read by no instance yet:
rosterctl runs this script) or held by an instance between attempts
(retrying, or waiting for its teacher: that instance runs it, told by
its control list).  A running job is never cancelled: its sync is
writing or about to.

The job gets its final status, state 'cancelled' (error 'cancelled', the
message says by whom and why), the event is published, and no dead letter
is written: the operator chose it, there is nothing to retry.  The event
carries the job's traceparent (its status, trace_of).  A queued
job's entry is deleted from the stream; a held one's is acknowledged and
its teacher lock released if it holds it.

KEYS[1]   the jobs stream
KEYS[2]   the job's status hash              (prefix job:JOB)
KEYS[3]   the teacher lock                   (prefix lock:{TEACHER})
ARGV[1]   consumer group
ARGV[2]   the job's stream entry id
ARGV[3]   consumer holding the job; '' for a queued job
ARGV[4]   lock value of the holder; '' when it holds no lock
ARGV[5]   job id
ARGV[6]   teacher id
ARGV[7]   kind ('sync', 'discover', 'forget')
ARGV[8]   the app's ref
ARGV[9]   what triggered it ('app', 'schedule', 'unrenewed')
ARGV[10]  human message
ARGV[11]  events channel
ARGV[12]  status TTL, seconds

Returns {'OK'}; {'NOT_QUEUED'} for a queued job that is not in the stream
or was read by an instance meanwhile (it is then that instance's); {'GONE'}
for a held job whose entry is not pending with that consumer any more.
Nothing is written then.

Atomic because an instance may read the entry at any moment: the check
that no instance has it and its deletion must be one step, or the job
could run and be cancelled both.
]]
--@include "include/common.lua"
local function id_after(a, b)
  local am, as = string.match(a, '^(%d+)-(%d+)$')
  local bm, bs = string.match(b, '^(%d+)-(%d+)$')
  if not am or not bm then return false end
  am, as, bm, bs = tonumber(am), tonumber(as), tonumber(bm), tonumber(bs)
  return am > bm or (am == bm and as > bs)
end
local function queued(stream, group, eid)
  if #redis.call('XRANGE', stream, eid, eid) == 0 then return false end
  for _, g in ipairs(redis.call('XINFO', 'GROUPS', stream)) do
    local name, last
    for i = 1, #g, 2 do
      if g[i] == 'name' then name = g[i+1] end
      if g[i] == 'last-delivered-id' then last = g[i+1] end
    end
    if name == group then return id_after(eid, last) end
  end
  return true	-- no group yet: nobody can have read it
end
local eid, consumer = ARGV[2], ARGV[3]
if consumer == '' then
  if not queued(KEYS[1], ARGV[1], eid) then return {'NOT_QUEUED'} end
  redis.call('XDEL', KEYS[1], eid)
else
  if not ours(KEYS[1], ARGV[1], eid, consumer) then return {'GONE'} end
  redis.call('XACK', KEYS[1], ARGV[1], eid)
  release(KEYS[3], ARGV[4])
end
local now = now_ms()
redis.call('HSET', KEYS[2], 'state', 'cancelled', 'job', ARGV[5], 'teacher', ARGV[6],
  'kind', ARGV[7], 'ref', ARGV[8], 'trigger', ARGV[9], 'error', 'cancelled',
  'message', ARGV[10], 'updated_ms', now, 'finished_ms', now)
redis.call('HDEL', KEYS[2], 'note', 'next_attempt_ms')
redis.call('EXPIRE', KEYS[2], tonumber(ARGV[12]))
publish(ARGV[11], {job = ARGV[5], teacher = ARGV[6], state = 'cancelled', error = 'cancelled',
  message = ARGV[10], trigger = ARGV[9], ref = ARGV[8],
  traceparent = trace_of(KEYS[2])})
return {'OK'}
