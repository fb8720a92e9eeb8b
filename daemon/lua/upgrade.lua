--[[ upgrade.lua: UPGRADE the contract version of a deployment in place,
from the older version this rosterd knows how to take over (common/
contract.h's CONTRACT_UPGRADES_FROM) to its own.  prepare.c runs it when
it reads the older version in the contract key; what changes for an app
is in doc/contract.md, "Changes in version 2".

KEYS[1]   the contract version                (prefix contract)
ARGV[1]   the version to upgrade from
ARGV[2]   the version to upgrade to

Returns 1 when the key held ARGV[1] and now holds ARGV[2]; else 0 and
nothing written (another instance upgraded it first, or someone set
another version): the caller reads the key again.

Atomic because the compare and the set must be one step: a key changed
in between (to a version this rosterd does not know) must not be
overwritten.
]]
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2])
return 1
