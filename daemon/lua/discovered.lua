--[[ discovered.lua: record a DISCOVERY (sections only, for the app's
"Sync Classes" picker): the section list, the teacher state (a later
discovery request coalesces with this one), the job status, the
acknowledgement, the release of the teacher lock, and the event.

KEYS[1]   the teacher's section list         (prefix sections:{TEACHER})
KEYS[2]   the job's status hash              (prefix job:JOB)
KEYS[3]   the jobs stream
KEYS[4]   the teacher lock                   (prefix lock:{TEACHER})
KEYS[5]   the teacher state hash             (prefix state:{TEACHER})
ARGV[1]   consumer group
ARGV[2]   the job's stream entry id
ARGV[3]   our lock value
ARGV[4]   the section list (JSON array; include/sections.lua writes it)
ARGV[5]   job id
ARGV[6]   teacher id
ARGV[7]   events channel
ARGV[8]   status TTL, seconds
ARGV[9]   the sync's start (ms, Redis clock)
ARGV[10]  number of sections listed
ARGV[11]  Clever requests made
ARGV[12]  authorized_by: 'teacher', 'district' or ''
ARGV[13]  the app's ref

The event carries the job's traceparent (its status, trace_of).

Returns {'OK'}, or {'LOST'} when the lock is not ours any more (nothing
written).

Atomic because only the lock holder may write, and the list, the state a
later request coalesces with, and the acknowledgement must agree.
]]
--@include "include/common.lua"
--@include "include/sections.lua"
if redis.call('GET', KEYS[4]) ~= ARGV[3] then return {'LOST'} end
local now, jid, teacher = now_ms(), ARGV[5], ARGV[6]
sections_write(KEYS[1], KEYS[5], ARGV[4], ARGV[10], jid, tonumber(ARGV[9]), now)
local prev = tonumber(redis.call('HGET', KEYS[5], 'any_started_ms') or 0)
redis.call('HSET', KEYS[5], 'any_started_ms', math.max(prev, tonumber(ARGV[9])), 'any_job', jid,
  'authorized_by', ARGV[12])
redis.call('HSET', KEYS[2], 'state', 'done', 'job', jid, 'teacher', teacher, 'kind', 'discover',
  'updated_ms', now, 'finished_ms', now, 'result', 'discovered', 'sections', ARGV[10],
  'requests', ARGV[11], 'authorized_by', ARGV[12])
redis.call('HDEL', KEYS[2], 'error', 'message', 'note', 'next_attempt_ms')
redis.call('EXPIRE', KEYS[2], tonumber(ARGV[8]))
redis.call('XACK', KEYS[3], ARGV[1], ARGV[2])
redis.call('DEL', KEYS[4])
publish(ARGV[7], {job = jid, teacher = teacher, state = 'done', result = 'discovered',
  sections = tonumber(ARGV[10]), ref = ARGV[13], traceparent = trace_of(KEYS[2])})
return {'OK'}
