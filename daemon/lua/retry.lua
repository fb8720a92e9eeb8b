--[[ retry.lua: RETRY a job after a transient failure.  The job's entry
stays pending with this consumer (rosterd admits it again after the
delay; another instance takes it over if this one dies); the status says
'retrying' with the error and the time of the next attempt; the teacher
lock is released if ours, so that other requests of the teacher are not
held up meanwhile.

KEYS[1]   the job's status hash              (prefix job:JOB)
KEYS[2]   the teacher lock                   (prefix lock:{TEACHER})
KEYS[3]   the jobs stream
ARGV[1]   our lock value
ARGV[2]   job id
ARGV[3]   teacher id
ARGV[4]   error code
ARGV[5]   human message
ARGV[6]   delay before the next attempt, ms
ARGV[7]   events channel
ARGV[8]   status TTL, seconds
ARGV[9]   the app's ref
ARGV[10]  consumer group
ARGV[11]  the job's stream entry id
ARGV[12]  consumer (this instance)

Returns {'OK'}, or {'GONE'} when the entry is not pending with this
consumer any more (another instance finished the job or took it over while
this one stalled): then nothing is written but the release of our lock.

The event carries the job's traceparent (its status, trace_of).

Atomic because the status must say 'retrying' before the lock is free:
once it is, another instance may admit the teacher and write 'running'.
]]
--@include "include/common.lua"
release(KEYS[2], ARGV[1])
if not ours(KEYS[3], ARGV[10], ARGV[11], ARGV[12]) then return {'GONE'} end
local now = now_ms()
redis.call('HSET', KEYS[1], 'state', 'retrying', 'error', ARGV[4], 'message', ARGV[5],
  'updated_ms', now, 'next_attempt_ms', now + tonumber(ARGV[6]))
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[8]))
publish(ARGV[7], {job = ARGV[2], teacher = ARGV[3], state = 'retrying', error = ARGV[4],
  message = ARGV[5], ref = ARGV[9], traceparent = trace_of(KEYS[1])})
return {'OK'}
