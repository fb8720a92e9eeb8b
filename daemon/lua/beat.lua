#!lua flags=allow-oom
--[[ beat.lua: an instance's HEARTBEAT: who it is and how it does, in a
hash that expires when the instance stops beating (crash, freeze, lost
network), so that `rosterctl` lists live instances and reap.lua can tell
a gone consumer from a live one.

KEYS[1]   the instance's hash                (prefix instance:CONSUMER)
ARGV[1]   expiry, ms (a few beat intervals)
ARGV[2..] field, value, ... : consumer, host, pid, version, state
          ('running', 'paused', 'quiet', 'stopping'), jobs (in flight), fetching, redis
          (health: 'ok' or what is wrong), and the server it is on:
          redis_address, redis_role, redis_tls ('on', 'off'),
          redis_maxmemory_policy, redis_failovers (followed), jobs_json
          (the jobs it holds, a JSON array: doc/contract.md)

The hash also gets started_ms (the first beat, Redis clock) and
last_beat_ms (this one).  Returns 1.

Atomic because a hash without its expiry would outlive the instance.

allow-oom (the first line, Redis 7.0 and later): the heartbeat is written
even while Redis, at maxmemory, refuses every other write, so that it
still says what is wrong (its field redis) instead of going stale and
expiring.  It overwrites one small hash: it takes no memory to speak of.
]]
--@include "include/common.lua"
local now = now_ms()
local h = {'HSET', KEYS[1], 'last_beat_ms', now}
for i = 2, #ARGV do h[#h+1] = ARGV[i] end
redis.call(unpack(h))
redis.call('HSETNX', KEYS[1], 'started_ms', now)
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1
