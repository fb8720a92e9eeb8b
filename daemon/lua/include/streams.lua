--[[ include/streams.lua: stream entry ids, compared as Redis orders them.

id_parts(id)         the id's milliseconds and sequence, as numbers
id_before(a, b)      true when id a comes before id b
id_after(id)         the smallest id that comes after id
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
