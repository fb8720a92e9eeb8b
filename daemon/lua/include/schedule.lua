--[[ include/schedule.lua: the freshness schedule's arithmetic.

Every teacher has a fixed phase within the interval, taken from a hash of
its id: the deployment's teachers spread evenly over the interval and stay
spread however they joined (thousands synced on one morning), whichever
instance plans them, and after an outage (a late sync does not move the
teacher's slots).  A teacher's slots are phase + k * interval; each due
time comes a little before its slot, by a jitter of 0..jitter ms drawn
from a hash of the teacher and the slot, so that consecutive syncs of a
teacher are interval +- jitter apart.

next_due(teacher, now, interval, jitter)
                     the due time of the teacher's first slot after
                     now + jitter: always later than now, at most
                     interval + jitter away
]]
local function next_due(teacher, now, interval, jitter)
  local phase = tonumber(string.sub(redis.sha1hex(teacher), 1, 12), 16) % interval
  local k = math.floor((now + jitter - phase) / interval) + 1
  local j = 0
  if jitter > 0 then
    j = tonumber(string.sub(redis.sha1hex(teacher .. ':' .. k), 1, 8), 16) % (jitter + 1)
  end
  return phase + k * interval - j
end
