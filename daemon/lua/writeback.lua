--[[ writeback.lua: WRITE BACK a full sync's outcome, or nothing.

A compare-and-set on the snapshot version: the diff was computed against
version ARGV[4]; if the snapshot moved since, nothing is written and the
caller diffs again from the new one.  Otherwise, in one step: the diff
entry (when something changed), the new snapshot, the teacher state (what
later requests coalesce with), the job status, the acknowledgement of the
job's entry, the release of the teacher lock, and the event.

KEYS[1]   the teacher's snapshot hash        (prefix snapshot:{TEACHER})
KEYS[2]   the diffs stream
KEYS[3]   the job's status hash              (prefix job:JOB)
KEYS[4]   the jobs stream
KEYS[5]   the teacher lock                   (prefix lock:{TEACHER})
KEYS[6]   the teacher state hash             (prefix state:{TEACHER})
KEYS[7]   the app's accounts hash (lower-cased email -> account)
KEYS[8]   the freshness schedule             (prefix schedule)
KEYS[9]   the teachers that left it          (prefix schedule:left)
KEYS[10]  the teachers awaiting a new token  (prefix reauthorize)
KEYS[11]  the teacher's section list         (prefix sections:{TEACHER})
KEYS[12]  the dead-letter stream
ARGV[1]   consumer group
ARGV[2]   the job's stream entry id
ARGV[3]   our lock value
ARGV[4]   base version (the snapshot the diff was computed against)
ARGV[5]   new version
ARGV[6]   the new snapshot (canonical JSON); without a diff, '' or the
          same roster at the same version in the current snapshot format
          (an older one, or one stored without its hash, is rewritten)
ARGV[7]   the diff (JSON); '' when nothing changed
ARGV[8]   job id
ARGV[9]   teacher id
ARGV[10]  events channel
ARGV[11]  status TTL, seconds
ARGV[12]  the sync's start (ms, Redis clock)
ARGV[13]  the teacher's lower-cased email, '' if none
ARGV[14]  authorized_by: 'teacher', 'district' or ''
ARGV[15]  the diff's counts, a JSON object of integers
ARGV[16]  Clever requests made
ARGV[17]  the district the teacher was synced through, '' if none
ARGV[18]  the app's ref
ARGV[19]  what triggered the job: 'app' or 'schedule'
ARGV[20]  the interval a joining teacher is planned with, ms
ARGV[21]  the schedule's jitter, ms
ARGV[22]  '1': the job waits for replicas ([redis] wait_replicas): all is
          written but the end of the job (the status stays running, note
          'replicating'; the entry pending, the lock held, no event), which
          confirm.lua writes once WAIT saw the write on the replicas
ARGV[23]  the picker's list this sync fetched (a JSON array, every
          section before the selection); '' when it fetched none (all
          answers unchanged): the list is then left as it is
ARGV[24]  the number of sections in it
ARGV[25]  the content hash of the base roster ('' for none, roster_hash())
ARGV[26]  the content hash of the new roster (of ARGV[6] when given)
ARGV[27]  '1': a forced sync (past the shrink guard), else '0'
ARGV[28]  '1': a teacher of a district job (daemon/district.c): the entry
          is the district job's, acknowledged when that job ends, not here;
          '0' or absent: the job's own

A sync that fetched the section list refreshes the picker's list
(include/sections.lua) in the same step: a discovery coalesced with it
is satisfied for real.

The job's traceparent (its status, trace_of) goes into the diff entry and
the event.

The diff entry names the roster it applies to and the one it yields by
their content hashes (base_hash, hash: how an app tells a redelivery from
another diff), and the app's account when the teacher's email matched one;
the snapshot keeps its hash.  Without a snapshot, the base version is the
one a forget left in the teacher's state: versions never restart.  The
teacher's state keeps the ids of its diff entries still in the stream
(diff_ids), for forget.lua to erase.

A forced sync confirms a change the shrink guard held: once it succeeds,
the teacher's held dead letters (held_ids in its state, fail.lua) go, the
same whoever queued it (the app, or `rosterctl held confirm`).

A successful sync means the token works: the teacher no longer awaits a
new one.  One the app asked for (re)joins the freshness schedule, planned
for the teacher's next slot (include/schedule.lua).

Returns:
  {'LOST'}                          the lock is not ours any more: nothing written
  {'CONFLICT', version}             the snapshot is at another version: nothing written
  {'OK', diff_id, version, account, authorized_by_changed}
                                    diff_id '' when nothing changed

Atomic because the contract promises that a diff and its snapshot are
written together or not at all, in version order, exactly once.
]]
--@include "include/common.lua"
--@include "include/schedule.lua"
--@include "include/sections.lua"
--@include "include/streams.lua"
if redis.call('GET', KEYS[5]) ~= ARGV[3] then return {'LOST'} end
local snapv = redis.call('HGET', KEYS[1], 'version')
local cur = tonumber(snapv or redis.call('HGET', KEYS[6], 'version') or '0')
if cur ~= tonumber(ARGV[4]) then return {'CONFLICT', tostring(cur)} end
local now, jid, teacher, ch, ref = now_ms(), ARGV[8], ARGV[9], ARGV[10], ARGV[18]
local started, version, diff_id = tonumber(ARGV[12]), cur, ''
local counts = cjson.decode(ARGV[15])
local tp = trace_of(KEYS[3])
local account = ''
if ARGV[13] ~= '' then account = redis.call('HGET', KEYS[7], ARGV[13]) or '' end
if ARGV[7] ~= '' then
  version = tonumber(ARGV[5])
  -- no MAXLEN: trim.lua trims behind what the app's groups have read
  local x = {'XADD', KEYS[2]}
  for _, v in ipairs({'*', 'v', CONTRACT_VERSION, 'teacher', teacher, 'job', jid, 'ref', ref,
    'base_version', tostring(cur), 'version', tostring(version),
    'added', tostring(counts.added), 'updated', tostring(counts.updated),
    'removed', tostring(counts.removed), 'diff', ARGV[7]}) do x[#x+1] = v end
  if tp then x[#x+1] = 'traceparent'; x[#x+1] = tp end
  for _, v in ipairs({'base_hash', ARGV[25], 'hash', ARGV[26]}) do x[#x+1] = v end
  if account ~= '' then x[#x+1] = 'account'; x[#x+1] = account end
  diff_id = redis.call(unpack(x))
  redis.call('HSET', KEYS[1], 'version', version, 'roster', ARGV[6], 'job', jid,
    'diff_id', diff_id, 'synced_ms', now, 'hash', ARGV[26])
  local ids = live_ids(redis.call('HGET', KEYS[6], 'diff_ids'), KEYS[2])
  ids[#ids+1] = diff_id
  redis.call('HSET', KEYS[6], 'diff_ids', table.concat(ids, ' '))
  redis.call('HDEL', KEYS[6], 'version')	-- the snapshot has it now
elseif snapv then
  redis.call('HSET', KEYS[1], 'synced_ms', now)
  if ARGV[6] ~= '' then redis.call('HSET', KEYS[1], 'roster', ARGV[6], 'hash', ARGV[26]) end
end
if ARGV[27] == '1' then
  local held = {}
  for id in string.gmatch(redis.call('HGET', KEYS[6], 'held_ids') or '', '%S+') do
    held[#held+1] = id
  end
  xdel_all(KEYS[12], held)
  redis.call('HDEL', KEYS[6], 'held_ids')
end
local prev = redis.call('HMGET', KEYS[6], 'authorized_by', 'done_started_ms', 'any_started_ms')
local changed = ''
if prev[1] and ARGV[14] ~= '' and prev[1] ~= ARGV[14] then changed = prev[1] .. '->' .. ARGV[14] end
redis.call('HSET', KEYS[6], 'done_started_ms', math.max(tonumber(prev[2] or 0), started),
  'any_started_ms', math.max(tonumber(prev[3] or 0), started), 'done_job', jid, 'any_job', jid,
  'done_version', version, 'any_version', version, 'authorized_by', ARGV[14], 'last_sync_ms', now)
if ARGV[17] ~= '' then redis.call('HSET', KEYS[6], 'district', ARGV[17]) end
if ARGV[23] ~= '' then
  sections_write(KEYS[11], KEYS[6], ARGV[23], ARGV[24], jid, started, now)
end
redis.call('ZREM', KEYS[10], teacher)
redis.call('HDEL', KEYS[6], 'reauth_token', 'reauth_owner')
if ARGV[19] == 'app' then
  redis.call('ZREM', KEYS[9], teacher)
  redis.call('HDEL', KEYS[6], 'schedule_left')
  redis.call('ZADD', KEYS[8], 'NX',
    next_due(teacher, now, tonumber(ARGV[20]), tonumber(ARGV[21])), teacher)
end
local result = diff_id ~= '' and 'changed' or 'no changes'
local hold = ARGV[22] == '1'
local h = {'HSET', KEYS[3], 'job', jid, 'teacher', teacher, 'kind', 'sync',
  'updated_ms', now, 'result', result, 'version', version,
  'base_version', cur, 'diff_id', diff_id, 'requests', ARGV[16], 'account', account,
  'authorized_by', ARGV[14], 'authorized_by_changed', changed}
for k, v in pairs(counts) do h[#h+1] = k; h[#h+1] = tostring(v) end
redis.call(unpack(h))
redis.call('HDEL', KEYS[3], 'error', 'message', 'note', 'next_attempt_ms')
redis.call('EXPIRE', KEYS[3], tonumber(ARGV[11]))
if hold then
  redis.call('HSET', KEYS[3], 'note', 'replicating')
  return {'OK', diff_id, tostring(version), account, changed}
end
redis.call('HSET', KEYS[3], 'state', 'done', 'finished_ms', now)
if ARGV[28] ~= '1' then redis.call('XACK', KEYS[4], ARGV[1], ARGV[2]) end
redis.call('DEL', KEYS[5])
publish(ch, {job = jid, teacher = teacher, state = 'done', result = result, version = version,
  diff_id = diff_id, account = account, authorized_by = ARGV[14],
  authorized_by_changed = changed, trigger = ARGV[19], ref = ref, traceparent = tp})
return {'OK', diff_id, tostring(version), account, changed}
