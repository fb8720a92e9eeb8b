--[[ include/streams.lua: stream entry ids, compared as Redis orders them.

id_parts(id)         the id's milliseconds and sequence, as numbers
id_before(a, b)      true when id a comes before id b
id_after(id)         the smallest id that comes after id
live_ids(list, stream)
                     the ids of a space-separated list that may still be
                     in the stream (none before its first entry: trimmed),
                     as a table: what a teacher's state keeps of its
                     entries (diff_ids, held_ids) stays bounded
xdel_all(stream, ids)
                     XDEL the ids (a table), in batches; how many were there
]]
local function id_parts(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return tonumber(ms), tonumber(seq)
end
local function id_before(a, b)
  local am, as = id_parts(a)
  local bm, bs = id_parts(b)
  return am < bm or (am == bm and as < bs)
end
local function id_after(id)
  local ms, seq = id_parts(id)
  return string.format('%d-%d', ms, seq + 1)
end
local function live_ids(list, stream)
  local first = redis.call('XRANGE', stream, '-', '+', 'COUNT', 1)[1]
  local ids = {}
  if not first then return ids end
  for id in string.gmatch(list or '', '%S+') do
    if not id_before(id, first[1]) then ids[#ids+1] = id end
  end
  return ids
end
local function xdel_all(stream, ids)
  local n = 0
  for i = 1, #ids, 500 do
    n = n + redis.call('XDEL', stream, unpack(ids, i, math.min(i + 499, #ids)))
  end
  return n
end
