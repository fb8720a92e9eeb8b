--[[ schedule_stats.lua: the freshness schedule in figures, for the metrics
(rosterd_schedule_teachers).  Read only.

KEYS[1]   the freshness schedule             (prefix schedule)
KEYS[2]   the teachers that left it          (prefix schedule:left)
KEYS[3]   the teachers awaiting a new token  (prefix reauthorize)
ARGV[1]   overdue after, ms: due longer ago than this is overdue

Returns {scheduled, due, overdue, left, awaiting_token}.

A script for the Redis clock (now), not for atomicity.
]]
--@include "include/common.lua"
local now = now_ms()
return {redis.call('ZCARD', KEYS[1]),
  redis.call('ZCOUNT', KEYS[1], '-inf', now),
  redis.call('ZCOUNT', KEYS[1], '-inf', '(' .. (now - tonumber(ARGV[1]))),
  redis.call('ZCARD', KEYS[2]), redis.call('ZCARD', KEYS[3])}
