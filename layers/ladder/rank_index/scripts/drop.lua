-- Drop every generation of a ladder's index, live or building: reads go to
-- Postgres until a rebuild flips a new one live. KEYS[1]: the ladder's base key.
local base = KEYS[1]
local gens = redis.call('SMEMBERS', base .. ':gens')
local live = redis.call('GET', base .. ':live')
if live then
  table.insert(gens, live)
end
for _, g in ipairs(gens) do
  for _, part in ipairs({'board', 'who', 'seen', 'policy', 'bulk:board', 'bulk:who', 'bulk:seen'}) do
    redis.call('UNLINK', base .. ':' .. g .. ':' .. part)
  end
end
redis.call('DEL', base .. ':live', base .. ':gens')
return #gens
