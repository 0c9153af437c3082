-- Make a built generation the live one, unless it was dropped while building
-- (a board-policy change, a newer drop): then it is deleted and nothing changes.
-- KEYS[1]: the ladder's base key. ARGV[1]: the generation. Returns 1 if live.
local base, gen = KEYS[1], ARGV[1]
local function unlink(g)
  for _, part in ipairs({'board', 'who', 'seen', 'policy'}) do
    redis.call('UNLINK', base .. ':' .. g .. ':' .. part)
  end
end
if redis.call('SISMEMBER', base .. ':gens', gen) == 0 then
  unlink(gen)
  return 0
end
local old = redis.call('GET', base .. ':live')
redis.call('SET', base .. ':live', gen)
if old and old ~= gen then
  redis.call('SREM', base .. ':gens', old)
  unlink(old)
end
return 1
