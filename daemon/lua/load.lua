--[[ load.lua: LOAD what a sync needs before it asks Clever.

KEYS[1]   the teacher's token                (prefix token:TEACHER)
KEYS[2]   the teacher state hash             (prefix state:{TEACHER})
KEYS[3]   the teacher's snapshot hash        (prefix snapshot:{TEACHER})
KEYS[4]   the teacher's section selection    (prefix selection:{TEACHER})
ARGV[1]   the job's kind: 'sync' or 'discover'

Returns {token, district, version, roster, selection, etags,
unrecognised}: the token, the district the teacher was last synced
through, the snapshot's version ('0' when there is none) and canonical
roster, the selection, and what the last full sync left in the state (its
ETag record and its unrecognised values); false where absent.  The roster
is left out (false) for a discovery, which does not diff, and when there
is an ETag record: the sync then most likely ends unchanged without it,
and asks for it (HMGET version roster) only if not.

Not for atomicity (the sync compares-and-sets the version at write-back):
one round trip instead of five, and a version that belongs to its roster.
]]
local st = redis.call('HMGET', KEYS[2], 'district', 'etags', 'unrecognised')
local sn
if ARGV[1] == 'discover' or st[2] then
  sn = {redis.call('HGET', KEYS[3], 'version'), false}
else
  sn = redis.call('HMGET', KEYS[3], 'version', 'roster')
end
return {redis.call('GET', KEYS[1]), st[1], sn[1] or '0', sn[2],
  redis.call('GET', KEYS[4]), st[2], st[3]}
