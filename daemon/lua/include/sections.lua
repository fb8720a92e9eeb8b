--[[ include/sections.lua: the picker's list, written alike by a discovery
(discovered.lua) and by a full sync (writeback.lua).

sections_write(key, state, list, n, job, started, now)
                     SET key (prefix sections:{TEACHER}) to
                     {"fetched_ms":now,"job":job,"sections":list}, list
                     the JSON array rosterd built (no '/' escaped: it is
                     spliced in as it is, never re-encoded by cjson, which
                     would escape it); and record in the teacher state
                     what a later discovery coalesces with:
                     sections_started_ms (the latest start of a sync that
                     fetched the list), sections_job, sections (n)
]]
local function sections_write(key, state, list, n, job, started, now)
  -- job ids are checked by rosterd ([A-Za-z0-9_-]): no escaping needed
  redis.call('SET', key, string.format('{"fetched_ms":%d,"job":"%s","sections":', now, job) ..
    list .. '}')
  local prev = tonumber(redis.call('HGET', state, 'sections_started_ms') or 0)
  redis.call('HSET', state, 'sections_started_ms', math.max(prev, started),
    'sections_job', job, 'sections', n)
end
