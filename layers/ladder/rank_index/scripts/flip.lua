-- Finish a rebuilt generation and make it live, unless it was dropped while
-- building (a board-policy change, a newer drop): then it is deleted and
-- nothing changes. KEYS[1]: the ladder's base key. ARGV[1]: the generation.
-- Returns 1 if live.
--
-- A rebuild loads its snapshot into the generation's `bulk` keys, while
-- writers update the generation's own keys (apply.lua). Here, in one step,
-- each player a writer touched takes whichever of the two holds the higher
-- version, and the merged bulk keys become the generation's.
local base, gen = KEYS[1], ARGV[1]
local key = base .. ':' .. gen
local parts = {'board', 'who', 'seen'}
local function unlink(g)
  for _, part in ipairs({'board', 'who', 'seen', 'policy', 'bulk:board', 'bulk:who', 'bulk:seen'}) do
    redis.call('UNLINK', base .. ':' .. g .. ':' .. part)
  end
end
if redis.call('SISMEMBER', base .. ':gens', gen) == 0 then
  unlink(gen)
  return 0
end

if redis.call('EXISTS', key .. ':bulk:who') == 1 then
  local written = redis.call('HGETALL', key .. ':who')
  for i = 1, #written, 2 do
    local player, value = written[i], written[i + 1]
    local space = string.find(value, ' ', 1, true)
    local version, member = tonumber(string.sub(value, 1, space - 1)), string.sub(value, space + 1)
    local bulk = redis.call('HGET', key .. ':bulk:who', player)
    local take = true
    if bulk then
      local at = string.find(bulk, ' ', 1, true)
      take = version >= tonumber(string.sub(bulk, 1, at - 1))
      if take and at < #bulk then
        redis.call('ZREM', key .. ':bulk:board', string.sub(bulk, at + 1))
      end
    end
    if take then
      redis.call('ZREM', key .. ':bulk:seen', player)
      if member ~= '' then
        local score = redis.call('ZSCORE', key .. ':board', member)
        if score then
          redis.call('ZADD', key .. ':bulk:board', score, member)
        end
        local last = redis.call('ZSCORE', key .. ':seen', player)
        if last then
          redis.call('ZADD', key .. ':bulk:seen', last, player)
        end
      end
      redis.call('HSET', key .. ':bulk:who', player, value)
    end
  end
  for _, part in ipairs(parts) do
    if redis.call('EXISTS', key .. ':bulk:' .. part) == 1 then
      redis.call('RENAME', key .. ':bulk:' .. part, key .. ':' .. part)
    else
      redis.call('UNLINK', key .. ':' .. part)
    end
  end
end

-- Every other generation goes: the old live one, and any a failed rebuild left
-- behind (one rebuild of a ladder runs at a time).
for _, other in ipairs(redis.call('SMEMBERS', base .. ':gens')) do
  if other ~= gen then
    redis.call('SREM', base .. ':gens', other)
    unlink(other)
  end
end
local old = redis.call('GET', base .. ':live')
if old and old ~= gen then
  unlink(old)
end
redis.call('SET', base .. ':live', gen)
return 1
