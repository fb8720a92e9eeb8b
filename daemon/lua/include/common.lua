--[[ include/common.lua: helpers shared by the scripts that include it
(with the line  --@include "include/common.lua").

CONTRACT_VERSION     the contract version a diff entry's field v carries:
                     common/contract.h's (tests/contract holds them equal)
now_ms()             the Redis clock in epoch milliseconds; every time the
                     contract stores comes from it, never from a host clock
publish(ch, m)       publish the table m as JSON on channel ch
trace_of(status)     the job's traceparent kept in its status hash (the
                     app's W3C trace context, admit.lua), or nil: a table
                     field set to it is then left out
release(lock, val)   delete a teacher lock if and only if it still holds val
                     (our own); '' never matches: nothing to release
ours(stream, group, entry, consumer)
                     true while the job's stream entry is pending with this
                     consumer: not acknowledged (finished) and not taken
                     over by another instance.  A worker that stalled (a
                     pause, a freeze) past claim_idle_ms may find its entry
                     gone; it must then write nothing about the job.
]]
local CONTRACT_VERSION = '2'
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function publish(ch, m)
  redis.call('PUBLISH', ch, cjson.encode(m))
end
local function trace_of(sk)
  return redis.call('HGET', sk, 'traceparent') or nil
end
local function release(lk, val)
  if val ~= '' and redis.call('GET', lk) == val then
    redis.call('DEL', lk)
  end
end
local function ours(stream, group, entry, consumer)
  local p = redis.call('XPENDING', stream, group, entry, entry, 1)
  return p[1] ~= nil and p[1][2] == consumer
end
