--[[ load.lua: LOAD what a sync needs before it asks Clever.

KEYS[1]   the teacher's token                (prefix token:TEACHER)
KEYS[2]   the teacher state hash             (prefix state:{TEACHER})
KEYS[3]   the teacher's snapshot hash        (prefix snapshot:{TEACHER})
KEYS[4]   the teacher's section selection    (prefix selection:{TEACHER})
No ARGV.

Returns {token, district, version, roster, selection}: the token, the
district the teacher was last synced through, the snapshot's version ('0'
when there is none) and canonical roster, the selection; false where absent.

Not for atomicity (the sync compares-and-sets the version at write-back):
one round trip instead of four, and a version that belongs to its roster.
]]
local sn = redis.call('HMGET', KEYS[3], 'version', 'roster')
return {redis.call('GET', KEYS[1]), redis.call('HGET', KEYS[2], 'district'),
  sn[1] or '0', sn[2], redis.call('GET', KEYS[4])}
