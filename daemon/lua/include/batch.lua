--[[ include/batch.lua: the loop of the scripts that turn the due members
of a sorted set into jobs (claim.lua, unrenewed.lua).  Their KEYS and
ARGV share one shape:

KEYS[1]       the sorted set: teacher -> time, ms
KEYS[2]       the jobs stream
KEYS[2i+1]    teacher i's first key
KEYS[2i+2]    teacher i's second key
ARGV[at]      n, the number of teachers
ARGV[at+i]    teacher i

due_jobs(at, limit, kind, trigger, step)
                     for each teacher t still in KEYS[1] with a time of at
                     most limit (another instance may have moved or
                     removed it since the caller chose it), calls
                     step(t, key1, key2), which updates the set; when
                     step returns true, adds the job {teacher t, kind,
                     trigger} to the jobs stream; for a member
                     'district:D' (claim.lua), the district job {kind
                     district, district D, trigger}.  Returns {jobs added,
                     teachers for which step returned false}.
]]
local function due_jobs(at, limit, kind, trigger, step)
  local added, skipped = 0, 0
  for i = 1, tonumber(ARGV[at]) do
    local t = ARGV[at+i]
    local score = redis.call('ZSCORE', KEYS[1], t)
    if score and tonumber(score) <= limit then
      if step(t, KEYS[2*i+1], KEYS[2*i+2]) then
        local d = string.match(t, '^district:(.+)$')
        if d and kind == 'sync' then
          redis.call('XADD', KEYS[2], '*', 'kind', 'district', 'district', d, 'trigger', trigger)
        else
          redis.call('XADD', KEYS[2], '*', 'teacher', t, 'kind', kind, 'trigger', trigger)
        end
        added = added + 1
      else
        skipped = skipped + 1
      end
    end
  end
  return {added, skipped}
end
