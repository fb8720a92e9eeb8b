--[[ handback.lua: HAND BACK a job at shutdown, for another instance to
take: it is re-queued as a new entry that keeps its job id (its status
hash) and its request time (what it may coalesce with), the old entry is
acknowledged, the teacher lock released if ours, and the status, if the
job had one yet, says 'queued' again.

KEYS[1]   the jobs stream
KEYS[2]   the job's status hash              (prefix job:JOB)
KEYS[3]   the teacher lock                   (prefix lock:{TEACHER})
ARGV[1]   consumer group
ARGV[2]   the job's stream entry id
ARGV[3]   our lock value; '' when the job did not hold the lock
ARGV[4]   job id
ARGV[5]   teacher id
ARGV[6]   kind ('sync' or 'discover')
ARGV[7]   the app's ref ('' if none)
ARGV[8]   district ('' if none)
ARGV[9]   request time (ms, Redis clock)
ARGV[10]  force: '1' or '0'
ARGV[11]  events channel
ARGV[12]  consumer (this instance), named in the status note
ARGV[13]  what triggered the job: 'app', 'schedule' or 'unrenewed' (kept)
ARGV[14]  the app's traceparent ('' if none; kept)
ARGV[15]  '1' for a teacher's write of a district job (optional): its entry
          is the district job's, which goes back whole after it; nothing is
          queued for the teacher, its lock is released and its status says
          'queued' (the district job's next run writes it)

Returns the new entry's id ('district' for a district job's teacher), or
'' when the old entry is not pending with
this consumer any more (another instance has the job): nothing is queued
then, but our lock is released.

Atomic because the new entry and the acknowledgement of the old one must
go together: otherwise the job would be lost, or run twice.
]]
--@include "include/common.lua"
if not ours(KEYS[1], ARGV[1], ARGV[2], ARGV[12]) then
  release(KEYS[3], ARGV[3])
  return ''
end
local function requeued(note)
  if redis.call('EXISTS', KEYS[2]) == 1 then
    redis.call('HSET', KEYS[2], 'state', 'queued', 'updated_ms', now_ms(),
      'note', note)
  end
  publish(ARGV[11], {job = ARGV[4], teacher = ARGV[5], state = 'queued', ref = ARGV[7],
    traceparent = ARGV[14] ~= '' and ARGV[14] or nil})
end
if ARGV[15] == '1' then
  release(KEYS[3], ARGV[3])
  requeued('handed back by ' .. ARGV[12] .. ' at shutdown with its district job')
  return 'district'
end
local x = {'XADD', KEYS[1], '*', 'teacher', ARGV[5], 'kind', ARGV[6], 'job_id', ARGV[4],
  'requested_ms', ARGV[9]}
if ARGV[7] ~= '' then x[#x+1] = 'ref'; x[#x+1] = ARGV[7] end
if ARGV[8] ~= '' then x[#x+1] = 'district'; x[#x+1] = ARGV[8] end
if ARGV[10] == '1' then x[#x+1] = 'force'; x[#x+1] = '1' end
if ARGV[13] ~= 'app' then x[#x+1] = 'trigger'; x[#x+1] = ARGV[13] end
if ARGV[14] ~= '' then x[#x+1] = 'traceparent'; x[#x+1] = ARGV[14] end
local id = redis.call(unpack(x))
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
release(KEYS[3], ARGV[3])
requeued('handed back by ' .. ARGV[12] .. ' at shutdown')
return id
