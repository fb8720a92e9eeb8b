--[[ include/buckets.lua: rate-limit buckets kept in a scope hash (a
token's, or the app's: see permit.lua).  A scope hash holds, for each of
its buckets NAME, the fields NAME.limit, NAME.used, NAME.reset (end of the
window, ms, Redis clock), NAME.blocked (ms), NAME.seen (1 once Clever's
headers spoke of the current window: until then its end is ours, which
may come a little before Clever's) and the field names (the bucket names
learned from Clever's headers, comma-separated).

load_buckets(out, key, default, limit)
                     append the scope's buckets to out as tables {key,
                     name, limit, used, reset, blocked, seen}; a scope that has
                     learned no name yet holds the bucket default (if not
                     nil) with the given limit
save_bucket(b)       write b's limit, used, reset and seen back
observe_bucket(key, name, limit, remaining, reset_s, now, window, floor)
                     adopt what a response said of one bucket, counting at
                     least floor permits used (granted before the bucket was
                     known); returns the bucket's window end
learn_name(key, name)
                     add name to the scope's names
]]
local function load_buckets(out, key, default, limit)
  local names = redis.call('HGET', key, 'names')
  local list = {}
  if names and names ~= '' then
    for nm in string.gmatch(names, '[^,]+') do list[#list+1] = nm end
  elseif default then
    list[1] = default
  end
  for _, nm in ipairs(list) do
    local h = redis.call('HMGET', key, nm .. '.limit', nm .. '.used',
      nm .. '.reset', nm .. '.blocked', nm .. '.seen')
    out[#out+1] = {key = key, name = nm, limit = tonumber(h[1] or limit or 0),
      used = tonumber(h[2] or 0), reset = tonumber(h[3] or 0),
      blocked = tonumber(h[4] or 0), seen = h[5] == '1'}
  end
end
local function save_bucket(b)
  redis.call('HSET', b.key, b.name .. '.limit', b.limit, b.name .. '.used', b.used,
    b.name .. '.reset', b.reset, b.name .. '.seen', b.seen and '1' or '0')
end
local function learn_name(key, name)
  local names = redis.call('HGET', key, 'names') or ''
  for nm in string.gmatch(names, '[^,]+') do
    if nm == name then return end
  end
  redis.call('HSET', key, 'names', names == '' and name or (names .. ',' .. name))
end
local function observe_bucket(key, name, limit, remaining, reset_s, now, window, floor)
  local h = redis.call('HMGET', key, name .. '.used', name .. '.reset')
  local used, ours = tonumber(h[1] or 0), tonumber(h[2] or 0)
  local reset = reset_s * 1000 + 1000
  if reset <= now then reset = ours end
  if reset <= now then reset = now + window end
  if limit > 0 then
    -- Clever's end of the same window is at most a second (the reset's
    -- resolution) and the request's way there after ours; a later one is
    -- Clever's next window, whose count replaces ours
    if reset > ours + 1000 + window / 4 then
      used = limit - remaining
    else
      used = math.max(used, limit - remaining); reset = math.max(reset, ours)
    end
    used = math.min(math.max(used, floor), limit)
    redis.call('HSET', key, name .. '.limit', limit, name .. '.reset', reset,
      name .. '.used', used, name .. '.seen', '1')
  end
  return reset
end
