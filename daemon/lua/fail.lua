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
KEYS[5]   the teacher state hash             (prefix state:{TEACHER})
KEYS[6]   the freshness schedule             (prefix schedule)
KEYS[7]   the teachers that left it          (prefix schedule:left)
KEYS[8]   the teachers awaiting a new token  (prefix reauthorize)
KEYS[9]   the token the job used, or would have (prefix token: or
          district_token:)
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
          there); '0': keep it
ARGV[18]  what triggered the job: 'app', 'schedule' or 'unrenewed'
ARGV[19]  whose token it used: 'teacher', 'district' or ''
ARGV[20]  '1': a teacher of a district job (daemon/district.c): the entry
          is the district job's, acknowledged when that job ends, not here;
          '0' or absent: the job's own

A teacher whose token is missing, refused (reauthorize), not shared or
another user's leaves the freshness schedule: it is named in the left
set with the time, the state says why (schedule_left), and it rejoins
with the next successful sync the app asks for (writeback.lua).  A
scheduled job that ends so adds no dead letter: nobody asked for it, and
the status and the left set say it.  On reauthorize, the teacher also
awaits a new token: the time of the first such failure goes into the
reauthorize set, and a fingerprint of the refused token (the first 16
hex digits of its SHA-1, never the token) into the state (reauth_token,
reauth_owner), so that unrenewed.lua can tell a renewed token from the
refused one.

The job's traceparent (its status, trace_of; none for an entry never
admitted) goes into the dead letter, so that a retry keeps it, and the
event.

A held change: its event carries the counts of what it would change
(added, updated, removed), and the id of its dead letter is kept in the
teacher's state (held_ids, those still in the stream), so that the forced
sync that confirms it removes it (writeback.lua).

Returns {'OK'}, or {'GONE'} when the entry is not pending with this
consumer any more (another instance finished the job or took it over while
this one stalled): then nothing is written, no dead letter either, but our
lock is released.

Atomic because a job that is acknowledged must have its final status and
its dead letter: otherwise a failure could vanish, or be recorded twice
when another instance takes the entry over.
]]
--@include "include/common.lua"
--@include "include/streams.lua"
if not ours(KEYS[2], ARGV[1], ARGV[2], ARGV[16]) then
  release(KEYS[3], ARGV[3])
  return {'GONE'}
end
local now, jid, teacher = now_ms(), ARGV[4], ARGV[5]
local tp = trace_of(KEYS[1])
local h = {'HSET', KEYS[1], 'state', ARGV[8], 'job', jid, 'teacher', teacher, 'kind', ARGV[6],
  'ref', ARGV[7], 'error', ARGV[9], 'message', ARGV[10], 'updated_ms', now, 'finished_ms', now}
local more = cjson.decode(ARGV[13])
for k, v in pairs(more) do h[#h+1] = k; h[#h+1] = tostring(v) end
redis.call(unpack(h))
redis.call('HDEL', KEYS[1], 'note', 'next_attempt_ms')
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[12]))
local att = redis.call('HGET', KEYS[1], 'attempts') or '0'
local leaves = {no_token = true, reauthorize = true, not_shared = true, token_mismatch = true}
local left = teacher ~= '' and leaves[ARGV[9]]
if left then
  redis.call('ZREM', KEYS[6], teacher)
  redis.call('ZADD', KEYS[7], now, teacher)
  redis.call('HSET', KEYS[5], 'schedule_left', ARGV[9])
  if ARGV[9] == 'reauthorize' then
    local tok = redis.call('GET', KEYS[9])
    redis.call('ZADD', KEYS[8], 'NX', now, teacher)
    redis.call('HSET', KEYS[5], 'reauth_token', tok and string.sub(redis.sha1hex(tok), 1, 16) or '',
      'reauth_owner', ARGV[19])
  end
end
if not (left and ARGV[18] == 'schedule') then
  local x = {'XADD', KEYS[4], '*', 'job', jid, 'teacher', teacher, 'kind', ARGV[6], 'ref', ARGV[7],
    'district', ARGV[14], 'force', ARGV[15], 'state', ARGV[8], 'error', ARGV[9],
    'message', ARGV[10], 'attempts', att, 'entry', ARGV[2], 'failed_ms', tostring(now)}
  if tp then x[#x+1] = 'traceparent'; x[#x+1] = tp end
  local dead_id = redis.call(unpack(x))
  if ARGV[8] == 'held' and teacher ~= '' then
    local ids = live_ids(redis.call('HGET', KEYS[5], 'held_ids'), KEYS[4])
    ids[#ids+1] = dead_id
    redis.call('HSET', KEYS[5], 'held_ids', table.concat(ids, ' '))
  end
end
if ARGV[20] ~= '1' then redis.call('XACK', KEYS[2], ARGV[1], ARGV[2]) end
if ARGV[17] == '1' then redis.call('XDEL', KEYS[2], ARGV[2]) end
release(KEYS[3], ARGV[3])
local ev = {job = jid, teacher = teacher, state = ARGV[8], error = ARGV[9],
  message = ARGV[10], trigger = ARGV[18], ref = ARGV[7], traceparent = tp}
if ARGV[8] == 'held' then
  for _, k in ipairs({'added', 'updated', 'removed'}) do ev[k] = tonumber(more[k]) end
end
publish(ARGV[11], ev)
return {'OK'}
