--[[ fail.lua: FAIL a job for good, or hold it: a job that cannot succeed
(state 'failed': a permanent error or a malformed entry; 'dead': its
attempts are used up) or a change held by the shrink guard (state 'held').
Writes the final status, adds a dead letter (which `rosterctl retry`
re-queues), acknowledges the entry, releases the teacher lock if ours, and
publishes the event.  A malformed entry is also deleted from the stream.

KEYS[1]   the job's status hash              (prefix job:JOB)
KEYS[2]   the jobs stream
KEYS[3]   the teacher lock                   (prefix lock:{TEACHER})
KEYS[4]   the dead-letter stream
ARGV[1]   consumer group
ARGV[2]   the job's stream entry id
ARGV[3]   our lock value; '' when the job never held the lock
ARGV[4]   job id
ARGV[5]   teacher id ('' for an entry too malformed to name one)
ARGV[6]   kind ('sync', 'discover'; '' for a malformed entry)
ARGV[7]   the app's ref
ARGV[8]   final state: 'failed', 'dead' or 'held'
ARGV[9]   error code
ARGV[10]  human message
ARGV[11]  events channel
ARGV[12]  status TTL, seconds
ARGV[13]  more status fields, a JSON object (the held change's counts)
ARGV[14]  district ('' if none), kept in the dead letter for a retry
ARGV[15]  force: '1' or '0', kept in the dead letter for a retry
ARGV[16]  consumer (this instance)
ARGV[17]  '1': delete the entry from the jobs stream too (a malformed job:
          it may carry a secret, a token the app should not have put
          there); '0' or absent: keep it

Returns {'OK'}, or {'GONE'} when the entry is not pending with this
consumer any more (another instance finished the job or took it over while
this one stalled): then nothing is written, no dead letter either, but our
lock is released.

Atomic because a job that is acknowledged must have its final status and
its dead letter: otherwise a failure could vanish, or be recorded twice
when another instance takes the entry over.
]]
--@include "include/common.lua"
if not ours(KEYS[2], ARGV[1], ARGV[2], ARGV[16]) then
  release(KEYS[3], ARGV[3])
  return {'GONE'}
end
local now, jid, teacher = now_ms(), ARGV[4], ARGV[5]
local h = {'HSET', KEYS[1], 'state', ARGV[8], 'job', jid, 'teacher', teacher, 'kind', ARGV[6],
  'ref', ARGV[7], 'error', ARGV[9], 'message', ARGV[10], 'updated_ms', now, 'finished_ms', now}
for k, v in pairs(cjson.decode(ARGV[13])) do h[#h+1] = k; h[#h+1] = tostring(v) end
redis.call(unpack(h))
redis.call('HDEL', KEYS[1], 'note', 'next_attempt_ms')
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[12]))
local att = redis.call('HGET', KEYS[1], 'attempts') or '0'
redis.call('XADD', KEYS[4], '*', 'job', jid, 'teacher', teacher, 'kind', ARGV[6], 'ref', ARGV[7],
  'district', ARGV[14], 'force', ARGV[15], 'state', ARGV[8], 'error', ARGV[9],
  'message', ARGV[10], 'attempts', att, 'entry', ARGV[2], 'failed_ms', tostring(now))
redis.call('XACK', KEYS[2], ARGV[1], ARGV[2])
if ARGV[17] == '1' then redis.call('XDEL', KEYS[2], ARGV[2]) end
release(KEYS[3], ARGV[3])
publish(ARGV[11], {job = jid, teacher = teacher, state = ARGV[8], error = ARGV[9],
  message = ARGV[10], ref = ARGV[7]})
return {'OK'}
