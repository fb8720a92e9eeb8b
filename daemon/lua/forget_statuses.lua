--[[ forget_statuses.lua: delete, among a batch of job statuses (a SCAN of
the status keys), those of a forgotten teacher.

KEYS      job status hashes                  (prefix job:JOB)
ARGV[1]   teacher id

Returns how many were deleted.

Not for atomicity (job ids are never reused): one round trip per batch.
]]
local n = 0
for _, k in ipairs(KEYS) do
  if redis.call('HGET', k, 'teacher') == ARGV[1] then
    redis.call('DEL', k)
    n = n + 1
  end
end
return n
