#!lua flags=no-writes
--[[ queue_stats.lua: the queue, the dead letters and the diff stream in
figures, for the metrics (exporter.c: rosterd_queue_*, rosterd_dead_letters,
rosterd_diffs_*, and the consumers whose heartbeats make
rosterd_instances) and for `rosterctl stats`, so that both count alike.
Read only; a missing stream or group is no error, just zeros.

KEYS[1]   the jobs stream
KEYS[2]   the dead-letter stream
KEYS[3..] the diff streams, partition 0 first (prefix diffs, or diffs:P)
ARGV[1]   rosterd's consumer group
ARGV[2]   the most dead letters read to count them by state (the newest)

Returns {jobs length, waiting, pending, oldest waiting age ms (0: none),
{consumer names of rosterd's group}, {dead letters failed, dead, held},
{{diffs group, lag, pending, partition}, ...}, {diff stream lengths, by
partition}}: one row per group of each partition's stream.

Waiting (a group's lag): what Redis says (XINFO GROUPS lag) when it can
tell.  Redis 7.0 cannot after an entry after the group's last-delivered-id
was deleted (fail.lua deletes a malformed job: it may carry a secret), nor
for a group created at an id: lag is nil.  Then the entries are counted,
by batches, on both sides of last-delivered-id at once, until one side
ends: waiting is the entries after it, or the length less those up to it.
The cost is twice the smaller side, which is small in both usual cases:
the jobs stream is trimmed behind rosterd's acknowledgements (little
before), and a group that keeps up has little after.

Dead letters are counted by state over the newest ARGV[2] of them
([retention] dead_max, which the trim keeps the stream to, so all of them
between trims): a read of the stream, bounded, not counters kept by every
script and command that adds, re-queues, deletes or trims a letter.

A script for one consistent, error-free read (EXISTS before XINFO: the
scrape counts no "no such key"), not for atomicity; no-writes: it runs at
maxmemory and on a replica.
]]
--@include "include/common.lua"
local BATCH = 1000

local function fields(flat)
  local f = {}
  for i = 1, #flat, 2 do f[flat[i]] = flat[i+1] end
  return f
end

local function groups(stream)
  local out = {}
  if redis.call('EXISTS', stream) == 0 then return out end
  for _, g in ipairs(redis.call('XINFO', 'GROUPS', stream)) do
    out[#out+1] = fields(g)
  end
  return out
end

-- the entries of stream after id (a group's last-delivered-id)
local function waiting(stream, len, g)
  if g['lag'] then return g['lag'] end
  local id = g['last-delivered-id']
  local after_from, before_to, before = '(' .. id, id, 0
  local after = 0
  while true do
    local a = redis.call('XRANGE', stream, after_from, '+', 'COUNT', BATCH)
    after = after + #a
    if #a < BATCH then return after end
    after_from = '(' .. a[#a][1]
    local b = redis.call('XREVRANGE', stream, before_to, '-', 'COUNT', BATCH)
    before = before + #b
    if #b < BATCH then return len - before end
    before_to = '(' .. b[#b][1]
  end
end

local function jobs()
  local len = redis.call('XLEN', KEYS[1])
  local g, names = nil, {}
  for _, x in ipairs(groups(KEYS[1])) do
    if x['name'] == ARGV[1] then g = x end
  end
  -- without rosterd's group (it has not started) every entry waits
  local wait, pending, from = len, 0, '-'
  if g then
    wait, pending, from = waiting(KEYS[1], len, g), g['pending'],
      '(' .. g['last-delivered-id']
    for _, c in ipairs(redis.call('XINFO', 'CONSUMERS', KEYS[1], ARGV[1])) do
      names[#names+1] = fields(c)['name']
    end
  end
  local age, first = 0, redis.call('XRANGE', KEYS[1], from, '+', 'COUNT', 1)
  if first[1] then
    age = math.max(0, now_ms() - tonumber(string.match(first[1][1], '^(%d+)')))
  end
  return len, wait, pending, age, names
end

local function dead()
  local n, left, to = {failed = 0, dead = 0, held = 0}, tonumber(ARGV[2]), '+'
  while left > 0 do
    local e = redis.call('XREVRANGE', KEYS[2], to, '-', 'COUNT', math.min(BATCH, left))
    for _, x in ipairs(e) do
      local s = fields(x[2])['state']
      if n[s] then n[s] = n[s] + 1 end
    end
    if #e < math.min(BATCH, left) then break end
    left, to = left - #e, '(' .. e[#e][1]
  end
  return {n.failed, n.dead, n.held}
end

local function diffs()
  local out, lens = {}, {}
  for p = 0, #KEYS - 3 do
    local stream = KEYS[3 + p]
    local len = redis.call('XLEN', stream)
    lens[#lens+1] = len
    for _, g in ipairs(groups(stream)) do
      out[#out+1] = {g['name'], waiting(stream, len, g), g['pending'], p}
    end
  end
  return out, lens
end

local len, wait, pending, age, names = jobs()
local groups_of_diffs, lens = diffs()
return {len, wait, pending, age, names, dead(), groups_of_diffs, lens}
