--[[ forget.lua: FORGET a teacher.  A final diff that removes everything
the app had of the teacher (a consumer that applies the teacher's diffs
ends with nothing), then the teacher's snapshot, state, section list,
selection, lock and rate-limit window go, and its entries in the
schedule's sets, the token too when the configuration says so (the
token key is the app's), and the job is done.  The statuses of the
teacher's other jobs are deleted next (forget_statuses.lua).

KEYS[1]   the teacher's snapshot hash        (prefix snapshot:{TEACHER})
KEYS[2]   the diffs stream
KEYS[3]   the job's status hash              (prefix job:JOB)
KEYS[4]   the jobs stream
KEYS[5]   the teacher lock                   (prefix lock:{TEACHER})
KEYS[6]   the teacher state hash             (prefix state:{TEACHER})
KEYS[7]   the teacher's section list         (prefix sections:{TEACHER})
KEYS[8]   the teacher's selection            (prefix selection:{TEACHER})
KEYS[9]   the teacher's token                (prefix token:TEACHER)
KEYS[10]  the teacher token's rate-limit window (prefix ratelimit:{rl}:teacher:TEACHER)
KEYS[11]  the freshness schedule             (prefix schedule)
KEYS[12]  the teachers that left it          (prefix schedule:left)
KEYS[13]  the teachers awaiting a new token  (prefix reauthorize)
KEYS[14]  the app's accounts hash (lower-cased email -> account)
ARGV[1]   consumer group
ARGV[2]   the job's stream entry id
ARGV[3]   our lock value
ARGV[4]   base version (of the snapshot the final diff removes)
ARGV[5]   the final diff (JSON); '' when nothing was synced
ARGV[6]   job id
ARGV[7]   teacher id
ARGV[8]   events channel
ARGV[9]   status TTL, seconds
ARGV[10]  the diff's counts, a JSON object of integers
ARGV[11]  '1': delete the token as well, else '0'
ARGV[12]  the app's ref
ARGV[13]  the content hash of the roster the final diff removes
ARGV[14]  the teacher's lower-cased email, '' if none

Returns {'LOST'}, {'CONFLICT', version} (nothing written: diff again), or
{'OK', diff_id, version} (diff_id '' when there was nothing to remove).
The job's status keeps no teacher field: nothing of the teacher remains.
The job's traceparent (its status, trace_of) goes into the final diff
entry and the event.

Forget erases: the teacher's earlier diff entries still in the diffs
stream (diff_ids in its state, writeback.lua) are deleted, and the final
diff says how many (erased); its hash is '' (the empty roster) and it
names the app's account when the teacher's email matched one.  The
teacher's state is left holding only its version (and forgotten_ms):
the next sync goes on from it, versions never restart.

Atomic because the final diff and the deletion of the snapshot must go
together: a consumer must never see one without the other.
]]
--@include "include/common.lua"
--@include "include/streams.lua"
if redis.call('GET', KEYS[5]) ~= ARGV[3] then return {'LOST'} end
local cur = tonumber(redis.call('HGET', KEYS[1], 'version') or
  redis.call('HGET', KEYS[6], 'version') or '0')
if cur ~= tonumber(ARGV[4]) then return {'CONFLICT', tostring(cur)} end
local now, jid, teacher, ref = now_ms(), ARGV[6], ARGV[7], ARGV[12]
local counts = cjson.decode(ARGV[10])
local diff_id, version, tp = '', cur, trace_of(KEYS[3])
local erased = xdel_all(KEYS[2], live_ids(redis.call('HGET', KEYS[6], 'diff_ids'), KEYS[2]))
local account = ''
if ARGV[14] ~= '' then account = redis.call('HGET', KEYS[14], ARGV[14]) or '' end
if ARGV[5] ~= '' then
  version = cur + 1
  local x = {'XADD', KEYS[2], '*', 'v', CONTRACT_VERSION, 'teacher', teacher, 'job', jid,
    'ref', ref, 'base_version', tostring(cur), 'version', tostring(version),
    'added', tostring(counts.added), 'updated', tostring(counts.updated),
    'removed', tostring(counts.removed), 'diff', ARGV[5], 'forgotten', '1'}
  if tp then x[#x+1] = 'traceparent'; x[#x+1] = tp end
  for _, v in ipairs({'base_hash', ARGV[13], 'hash', '', 'erased', tostring(erased)}) do
    x[#x+1] = v
  end
  if account ~= '' then x[#x+1] = 'account'; x[#x+1] = account end
  diff_id = redis.call(unpack(x))
end
redis.call('DEL', KEYS[1], KEYS[6], KEYS[7], KEYS[8], KEYS[5], KEYS[10])
if version > 0 then redis.call('HSET', KEYS[6], 'version', version, 'forgotten_ms', now) end
if ARGV[11] == '1' then redis.call('DEL', KEYS[9]) end
for i = 11, 13 do redis.call('ZREM', KEYS[i], teacher) end
local h = {'HSET', KEYS[3], 'state', 'done', 'job', jid, 'kind', 'forget',
  'updated_ms', now, 'finished_ms', now, 'result', 'forgotten', 'version', version,
  'base_version', cur, 'diff_id', diff_id}
for k, v in pairs(counts) do h[#h+1] = k; h[#h+1] = tostring(v) end
h[#h+1] = 'erased'; h[#h+1] = tostring(erased)
redis.call(unpack(h))
redis.call('HDEL', KEYS[3], 'teacher', 'error', 'message', 'note', 'next_attempt_ms')
redis.call('EXPIRE', KEYS[3], tonumber(ARGV[9]))
redis.call('XACK', KEYS[4], ARGV[1], ARGV[2])
publish(ARGV[8], {job = jid, teacher = teacher, state = 'done', result = 'forgotten',
  version = version, diff_id = diff_id, ref = ref, traceparent = tp})
return {'OK', diff_id, tostring(version)}
