--[[ admit.lua: ADMIT a batch of n jobs read from the stream.

For each job, one of four outcomes:
- coalesced: a sync of the teacher that started after the request was made
  has finished (a full sync; for a discovery, any sync that fetched the
  section list, which refreshed the picker's: the status then says how
  many sections it listed; a forget never coalesces): the job is done
  without a Clever call and its entry is acknowledged;
- run: the teacher lock was free and is now ours: the job runs;
- busy: another sync of the teacher holds the lock: the job waits (its
  status says queued) and is admitted again later;
- gone: the job has a status but its entry is no longer pending with this
  consumer: another instance finished it or took it over while this one
  stalled.  Nothing is written (a finished status must never move back).

KEYS[1]        the jobs stream
KEYS[3i-1]     job i's status hash              (prefix job:JOB)
KEYS[3i]       job i's teacher state hash       (prefix state:{TEACHER})
KEYS[3i+1]     job i's teacher lock             (prefix lock:{TEACHER})
ARGV[1]        consumer group
ARGV[2]        consumer (this instance)
ARGV[3]        lock TTL, milliseconds
ARGV[4]        events channel
ARGV[5]        n, the number of jobs
ARGV[5+10(i-1)+1 .. +10] job i: entry id, job id, teacher, kind
               ('sync', 'discover' or 'forget'), ref, request time (ms, Redis
               clock), lock value, trigger ('app', 'schedule' or
               'unrenewed'; kept in the status), status TTL (seconds),
               traceparent (the app's W3C trace context, checked by
               rosterd; '' if none): kept in the status, where the later
               scripts find it for the events, the diff and dead letter

Returns one reply per job, in order:
  {'C', job}              coalesced with that job's sync
  {'R', started_ms, n}    lock taken: run it; started_ms is the sync's
                          start, n the attempts made so far (this one too)
  {'B'}                   teacher busy
  {'G'}                   the entry is not ours any more: forget the job

Atomic because the check "a sync started after the request" and taking the
lock must see one state of the teacher: otherwise a request could be
acknowledged that no sync satisfied, or two instances run one teacher.
]]
--@include "include/common.lua"
local group, consumer = ARGV[1], ARGV[2]
local lockttl, ch = ARGV[3], ARGV[4]
local now, out, acks = now_ms(), {}, {}
local nows = string.format('%d', now)
for i = 1, tonumber(ARGV[5]) do
  local sk, tk, lk = KEYS[3*i-1], KEYS[3*i], KEYS[3*i+1]
  local a = 5 + 10*(i-1)
  local eid, jid, teacher, kind, ref = ARGV[a+1], ARGV[a+2], ARGV[a+3], ARGV[a+4], ARGV[a+5]
  local reqs, lockval, trigger, ttl = ARGV[a+6], ARGV[a+7], ARGV[a+8], ARGV[a+9]
  local tp = ARGV[a+10] ~= '' and ARGV[a+10] or nil
  local st
  if kind == 'discover' then
    st = redis.call('HMGET', tk, 'sections_started_ms', 'sections_job', 'any_version', 'sections')
  elseif kind == 'forget' then st = {false}	-- no sync satisfies a forget
  else st = redis.call('HMGET', tk, 'done_started_ms', 'done_job', 'done_version') end
  local prev = redis.call('HGET', sk, 'state')
  if prev and not ours(KEYS[1], group, eid, consumer) then
    out[i] = {'G'}
  elseif st[1] and tonumber(st[1]) >= tonumber(reqs) then
    redis.call('HSET', sk, 'state', 'done', 'job', jid, 'teacher', teacher, 'kind', kind, 'ref', ref,
      'trigger', trigger, 'created_ms', reqs, 'updated_ms', nows, 'finished_ms', nows, 'result', 'coalesced',
      'coalesced_with', st[2] or '', 'version', st[3] or '0')
    if prev then redis.call('HDEL', sk, 'error', 'message', 'note', 'next_attempt_ms') end
    if tp then redis.call('HSET', sk, 'traceparent', tp) end
    if st[4] then redis.call('HSET', sk, 'sections', st[4]) end
    redis.call('EXPIRE', sk, ttl)
    acks[#acks+1] = eid
    -- the hot path: ids are safe (checked by rosterd), only ref needs encoding
    redis.call('PUBLISH', ch, '{"job":"' .. jid .. '","teacher":"' .. teacher ..
      '","state":"done","result":"coalesced","coalesced_with":"' .. (st[2] or '') ..
      '","ref":' .. cjson.encode(ref) .. (tp and ',"traceparent":"' .. tp .. '"' or '') ..
      (st[4] and ',"sections":' .. tonumber(st[4]) or '') .. '}')
    out[i] = {'C', st[2] or ''}
  elseif redis.call('SET', lk, lockval, 'NX', 'PX', lockttl) then
    local att = redis.call('HINCRBY', sk, 'attempts', 1)
    redis.call('HSET', sk, 'state', 'running', 'job', jid, 'teacher', teacher, 'kind', kind, 'ref', ref,
      'trigger', trigger, 'created_ms', reqs, 'updated_ms', nows, 'started_ms', nows, 'consumer', consumer)
    if prev then redis.call('HDEL', sk, 'note', 'next_attempt_ms') end
    if tp then redis.call('HSET', sk, 'traceparent', tp) end
    redis.call('EXPIRE', sk, ttl)
    redis.call('HSET', tk, 'running_job', jid, 'running_started_ms', nows)
    publish(ch, {job = jid, teacher = teacher, state = 'running', attempts = att, trigger = trigger,
      ref = ref, traceparent = tp})
    out[i] = {'R', nows, att}
  else
    if prev ~= 'queued' then
      redis.call('HSET', sk, 'state', 'queued', 'job', jid, 'teacher', teacher, 'kind', kind, 'ref', ref,
        'trigger', trigger, 'created_ms', reqs, 'updated_ms', nows, 'note', 'waiting for the running sync of this teacher')
      if tp then redis.call('HSET', sk, 'traceparent', tp) end
      redis.call('EXPIRE', sk, ttl)
      publish(ch, {job = jid, teacher = teacher, state = 'queued', ref = ref, traceparent = tp})
    end
    out[i] = {'B'}
  end
end
if #acks > 0 then redis.call('XACK', KEYS[1], group, unpack(acks)) end
return out
