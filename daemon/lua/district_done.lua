--[[ district_done.lua: END a district job (daemon/district.c) once every
teacher it follows has been written (or coalesced, held, failed: each
teacher's own status says which).  In one step: the district job's status
(done, with the teachers' counts), the district's state (what later
district jobs coalesce with), the acknowledgement of its entry, the
release of the district lock, and the event.

KEYS[1]   the district job's status hash     (prefix job:JOB)
KEYS[2]   the jobs stream
KEYS[3]   the district lock                  (prefix lock:{district:D})
KEYS[4]   the district state hash            (prefix state:{district:D})
ARGV[1]   consumer group
ARGV[2]   the job's stream entry id
ARGV[3]   our lock value
ARGV[4]   job id
ARGV[5]   the job's name, 'district:D' (its status's teacher field)
ARGV[6]   the district id D
ARGV[7]   the pull's start (ms, Redis clock)
ARGV[8]   counts, a JSON object of integers: teachers (followed and
          listed), changed, unchanged, held, failed, coalesced, requests
          (to Clever), records (teachers, sections, students pulled)
ARGV[9]   events channel
ARGV[10]  status TTL, seconds
ARGV[11]  the app's ref
ARGV[12]  what triggered the job: 'app', 'schedule' or 'events'
ARGV[13]  consumer (this instance)

Returns {'OK', result}, {'LOST'} when the district lock is not ours any
more (nothing written), or {'GONE'} when the entry is not pending with
this consumer (another instance took the job over: nothing written but the
release of our lock).

Atomic because the status must say 'done' when, and only when, the entry
is acknowledged and the lock free, as for a teacher's job.
]]
--@include "include/common.lua"
if not ours(KEYS[2], ARGV[1], ARGV[2], ARGV[13]) then
  release(KEYS[3], ARGV[3])
  return {'GONE'}
end
if redis.call('GET', KEYS[3]) ~= ARGV[3] then return {'LOST'} end
local now, jid, counts = now_ms(), ARGV[4], cjson.decode(ARGV[8])
local started = tonumber(ARGV[7])
local result = (counts.changed or 0) > 0 and 'changed' or 'no changes'
local tp = trace_of(KEYS[1])
local h = {'HSET', KEYS[1], 'state', 'done', 'job', jid, 'teacher', ARGV[5], 'kind', 'district',
  'district', ARGV[6], 'result', result, 'updated_ms', now, 'finished_ms', now}
for k, v in pairs(counts) do h[#h+1] = k; h[#h+1] = tostring(v) end
redis.call(unpack(h))
redis.call('HDEL', KEYS[1], 'error', 'message', 'note', 'next_attempt_ms')
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[10]))
local prev = redis.call('HGET', KEYS[4], 'done_started_ms')
redis.call('HSET', KEYS[4], 'done_started_ms', math.max(tonumber(prev or 0), started),
  'done_job', jid, 'done_version', '0', 'district', ARGV[6], 'last_sync_ms', now)
redis.call('XACK', KEYS[2], ARGV[1], ARGV[2])
redis.call('DEL', KEYS[3])
local ev = {job = jid, teacher = ARGV[5], district = ARGV[6], kind = 'district', state = 'done',
  result = result, trigger = ARGV[12], ref = ARGV[11], traceparent = tp}
for k, v in pairs(counts) do ev[k] = v end
publish(ARGV[9], ev)
return {'OK', result}
