--[[ probe.lua: PROBE whether this Redis user may do all that rosterd
does, without doing any of it: every check is redis.acl_check_cmd (Redis
7.0 and later), which weighs a command, its keys and its channels against
the user's ACL.  rosterd runs it on every connection, before it works.

No KEYS (the keys checked are arguments: none is touched).
ARGV[1]   n, the number of checks
then per check: its argument count c, then the c words of the command
          as rosterd sends it (the command, its keys, channels, values)

Returns the indexes (from 1) of the checks the ACL denies; {} when all is
allowed.  Fails on a Redis older than 7.0 (no redis.acl_check_cmd).

Not atomic by need: it reads nothing and writes nothing.
]]
local denied, a = {}, 2
for i = 1, tonumber(ARGV[1]) do
  local c = tonumber(ARGV[a])
  local cmd = {}
  for k = 1, c do cmd[k] = ARGV[a + k] end
  if not redis.acl_check_cmd(unpack(cmd)) then denied[#denied+1] = i end
  a = a + c + 1
end
return denied
