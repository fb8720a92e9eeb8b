--[[ reap.lua: REAP a consumer of rosterd's group that is gone: no
heartbeat (its instance stopped or died), nothing pending (what it held
was taken over), idle for at least the given time.  Without this every
restart under a new consumer name (the default is host-pid) would leave
one behind in the group for ever.

KEYS[1]   the jobs stream
KEYS[2]   the consumer's heartbeat hash      (prefix instance:CONSUMER)
ARGV[1]   consumer group
ARGV[2]   consumer
ARGV[3]   least idle time, ms

Returns 1 when the consumer was removed, else 0.

Atomic because the checks and the removal must be one step: a consumer
that read an entry in between would lose it with DELCONSUMER.
]]
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
for _, c in ipairs(redis.call('XINFO', 'CONSUMERS', KEYS[1], ARGV[1])) do
  local f = {}
  for i = 1, #c, 2 do f[c[i]] = c[i+1] end
  if f['name'] == ARGV[2] then
    if tonumber(f['pending']) ~= 0 or tonumber(f['idle']) < tonumber(ARGV[3]) then
      return 0
    end
    redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2])
    return 1
  end
end
return 0
