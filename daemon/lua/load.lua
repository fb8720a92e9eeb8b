--[[ load.lua: LOAD what a sync needs before it asks Clever.

KEYS[1]   the teacher's token                (prefix token:TEACHER)
KEYS[2]   the teacher state hash             (prefix state:{TEACHER})
KEYS[3]   the teacher's snapshot hash        (prefix snapshot:{TEACHER})
KEYS[4]   the teacher's section selection    (prefix selection:{TEACHER})
ARGV[1]   the job's kind: 'sync' or 'discover'

Returns {token, district, version, roster, selection, etags,
unrecognised, hash}: the token, the district the teacher was last synced
through, the snapshot's version and canonical roster, the selection, what
the last full sync left in the state (its ETag record and its
unrecognised values), and the snapshot's content hash; false where
absent.  The roster is left out (false) for a discovery, which does not
diff, and when there is an ETag record: the sync then most likely ends
unchanged without it, and asks for it (HMGET version roster hash) only if
not.

Without a snapshot, the version is the one a forget left in the state
('0' when there is none: never synced), and the hash '' (the empty
roster): versions never restart.  A snapshot stored without its hash
(before contract 2) has hash false and its roster always loaded: the sync
hashes it, and rewrites it with its hash.

Not for atomicity (the sync compares-and-sets the version at write-back):
one round trip instead of five, and a version that belongs to its roster.
]]
local st = redis.call('HMGET', KEYS[2], 'district', 'etags', 'unrecognised', 'version')
local sn = redis.call('HMGET', KEYS[3], 'version', 'hash')
local roster, hash = false, sn[2]
if not sn[1] then
  hash = ''
elseif ARGV[1] ~= 'discover' and not (st[2] and hash) then
  roster = redis.call('HGET', KEYS[3], 'roster')
end
return {redis.call('GET', KEYS[1]), st[1], sn[1] or st[4] or '0', roster,
  redis.call('GET', KEYS[4]), st[2], st[3], hash}
