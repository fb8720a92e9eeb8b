#!lua flags=allow-oom
--[[ control.lua: an instance's GATE POLL, every second: whether the
deployment is paused, whether this instance is quiet, and the operator's
commands to it (`rosterctl retry-now`, `cancel`), taken off its control
list.  It also records, in the instance's heartbeat, the gate the instance
applies (what the previous poll brought), so that `rosterctl pause --wait`
and `quiet --wait` know which instances have seen the pause or quiet.

KEYS[1]   the pause key                      (prefix paused)
KEYS[2]   this instance's quiet key          (prefix quiet:CONSUMER)
KEYS[3]   this instance's control list       (prefix control:CONSUMER)
KEYS[4]   this instance's heartbeat          (prefix instance:CONSUMER)
ARGV[1]   the pause note the instance applies now ('' if not paused)
ARGV[2]   the quiet note it applies now ('' if not quiet)
ARGV[3]   how long the quiet key outlives the last poll, ms
ARGV[4]   the most commands to take, n

Returns {pause note or '', quiet note or '', {command, ...}}: at most n
commands, oldest first ('retry JOB', 'cancel JOB REASON').  The heartbeat
gets paused_since_ms and paused_note while the instance applies a pause,
quiet_since_ms and quiet_note while it applies a quiet; they go when it
stops.  Only a heartbeat that exists is written (one without its expiry
would outlive the instance).  The quiet key's expiry is renewed: it
outlives an instance that is gone by ARGV[3] at most.

Atomic because a command taken off the list must reach the instance: the
list is read and trimmed in one step.

allow-oom (the first line): the gate is polled, and the operator's
commands reach the instance, even while Redis at maxmemory refuses
other writes; what it writes is a few small fields.
]]
--@include "include/common.lua"
local now = now_ms()
local function gate(note, since, field)
  if note == '' then
    redis.call('HDEL', KEYS[4], since, field)
  elseif redis.call('HGET', KEYS[4], field) ~= note then
    redis.call('HSET', KEYS[4], since, now, field, note)
  end
end
if redis.call('EXISTS', KEYS[4]) == 1 then
  gate(ARGV[1], 'paused_since_ms', 'paused_note')
  gate(ARGV[2], 'quiet_since_ms', 'quiet_note')
end
local quiet = redis.call('GET', KEYS[2])
if quiet then redis.call('PEXPIRE', KEYS[2], ARGV[3]) end
local n = tonumber(ARGV[4])
local cmds = redis.call('LRANGE', KEYS[3], 0, n - 1)
if #cmds > 0 then redis.call('LTRIM', KEYS[3], #cmds, -1) end
return {redis.call('GET', KEYS[1]) or '', quiet or '', cmds}
