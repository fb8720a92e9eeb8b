--[[ confirm.lua: CONFIRM a write-back that waited for replicas.

With [redis] wait_replicas, writeback.lua writes the diff, the snapshot
and the result but leaves the job running ('replicating'): the entry
pending, the teacher lock held, nothing published.  Once WAIT has seen the
write on enough replicas, this ends the job as writeback.lua would have:
the status done, the entry acknowledged, the lock released, the event.
When WAIT saw too few, rosterd retries the job instead (retry.lua), and
this script is not called.

KEYS[1]   the job's status hash              (prefix job:JOB)
KEYS[2]   the jobs stream
KEYS[3]   the teacher lock                   (prefix lock:{TEACHER})
ARGV[1]   consumer group
ARGV[2]   the job's stream entry id
ARGV[3]   our lock value
ARGV[4]   events channel
ARGV[5]   what triggered the job: 'app' or 'schedule'
ARGV[6]   '1': a teacher of a district job (daemon/district.c): the entry
          is the district job's, acknowledged when that job ends, not here;
          '0' or absent: the job's own

The event carries the job's traceparent (its status, trace_of).

Returns {'OK'}, or {'LOST'} when the lock is not ours any more (it
expired while WAIT waited): nothing written; the job is taken over.

Atomic because the status must say 'done' when, and only when, the
entry is acknowledged and the lock free.
]]
--@include "include/common.lua"
if redis.call('GET', KEYS[3]) ~= ARGV[3] then return {'LOST'} end
local now = now_ms()
local f = redis.call('HMGET', KEYS[1], 'job', 'teacher', 'result', 'version',
  'diff_id', 'account', 'authorized_by', 'authorized_by_changed', 'ref')
redis.call('HSET', KEYS[1], 'state', 'done', 'updated_ms', now, 'finished_ms', now)
redis.call('HDEL', KEYS[1], 'note')
if ARGV[6] ~= '1' then redis.call('XACK', KEYS[2], ARGV[1], ARGV[2]) end
redis.call('DEL', KEYS[3])
publish(ARGV[4], {job = f[1], teacher = f[2], state = 'done', result = f[3],
  version = tonumber(f[4]), diff_id = f[5], account = f[6], authorized_by = f[7],
  authorized_by_changed = f[8], trigger = ARGV[5], ref = f[9] or '', traceparent = trace_of(KEYS[1])})
return {'OK'}
