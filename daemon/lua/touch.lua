--[[ touch.lua: TOUCH the entries of the jobs this instance holds, so that
they do not look idle to other instances (which take over entries idle
longer than claim_idle_ms), and tell which of them are not ours any more.

An entry another instance took over while this one stalled (a pause, a
freeze) must not be claimed back: XCLAIM would take it whoever holds it.
So each entry is claimed (its idle time reset) only while it is pending
with this consumer.

KEYS[1]   the jobs stream
ARGV[1]   consumer group
ARGV[2]   consumer (this instance)
ARGV[3..] the stream entry ids of the jobs in memory

Returns the ids that are not pending with this consumer any more
(finished or taken over elsewhere): rosterd forgets those jobs.

Atomic because the check of the owner and the claim must be one step:
otherwise an entry taken over in between would be claimed back.
]]
--@include "include/common.lua"
local lost = {}
for i = 3, #ARGV do
  if ours(KEYS[1], ARGV[1], ARGV[i], ARGV[2]) then
    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i], 'JUSTID')
  else
    lost[#lost+1] = ARGV[i]
  end
end
return lost
