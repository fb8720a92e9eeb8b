--[[ unrenewed.lua: FORGET the teachers whose token was refused
(reauthorize) and not renewed within [sync] forget_unrenewed_s: for each,
a forget job is added to the job stream (trigger 'unrenewed'), which
erases the teacher like `rosterctl forget` does.

A token counts as renewed when the teacher's token key holds another
token than the one refused (fail.lua kept a fingerprint of that one); the
teacher then no longer awaits a new token, and rejoins the schedule with
the next sync the app asks for.  A teacher synced through a district's
token is renewed only by a successful sync (writeback.lua).

KEYS[1]       the teachers awaiting a new token: teacher -> time of the
              first refusal, ms                  (prefix reauthorize)
KEYS[2]       the jobs stream
KEYS[2i+1]    teacher i's state hash             (prefix state:{TEACHER})
KEYS[2i+2]    teacher i's token                  (prefix token:TEACHER)
ARGV[1]       forget_unrenewed, ms
ARGV[2]       n, the number of teachers
ARGV[2+i]     teacher i (the oldest entries of KEYS[1])

Returns {forgotten, renewed}.

Atomic because the check that a teacher still awaits a token and the
removal of its entry must be one step with the forget job: two instances
must never both add one, and a renewal must never be missed.
]]
--@include "include/common.lua"
--@include "include/batch.lua"
local cutoff = now_ms() - tonumber(ARGV[1])
return due_jobs(2, cutoff, 'forget', 'unrenewed', function(t, sk, tk)
  redis.call('ZREM', KEYS[1], t)
  local st = redis.call('HMGET', sk, 'reauth_token', 'reauth_owner')
  local tok = redis.call('GET', tk)
  if st[2] == 'teacher' and tok and string.sub(redis.sha1hex(tok), 1, 16) ~= st[1] then
    redis.call('HDEL', sk, 'reauth_token', 'reauth_owner')
    return false
  end
  return true
end)
