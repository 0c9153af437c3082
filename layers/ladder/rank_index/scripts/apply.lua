-- Take standings into the rank index, keeping per player the highest version.
-- KEYS[1]: the ladder's base key. ARGV[1]: one generation, or '' for every
-- generation writers keep (`gens`: the live one and any being built). Then six
-- values per standing: player id, version, score, member, games, last played
-- (epoch microseconds, '' for never).
--
-- `who` maps each player the generation has heard of to "<version> <member>"
-- (member '' while off the board), so an update older than what it holds (a
-- writer that reached Redis late, a rebuild's older snapshot) changes nothing,
-- and an equal one (a repair, a redelivery) writes the same again.
local base = KEYS[1]
local gens
if ARGV[1] == '' then
  gens = redis.call('SMEMBERS', base .. ':gens')
else
  gens = {ARGV[1]}
end
local applied = 0
for _, gen in ipairs(gens) do
  local key = base .. ':' .. gen
  local policy = redis.call('HMGET', key .. ':policy', 'min_games', 'window')
  if policy[1] then -- a generation dropped meanwhile has no policy: skip it
    local min_games, windowed = tonumber(policy[1]), policy[2] ~= ''
    for i = 2, #ARGV, 6 do
      local player, version = ARGV[i], ARGV[i + 1]
      local held = redis.call('HGET', key .. ':who', player)
      local held_member = ''
      local take = true
      if held then
        local space = string.find(held, ' ', 1, true)
        take = tonumber(version) >= tonumber(string.sub(held, 1, space - 1))
        held_member = string.sub(held, space + 1)
      end
      if take then
        if held_member ~= '' then
          redis.call('ZREM', key .. ':board', held_member)
        end
        local member, games, seen = ARGV[i + 3], tonumber(ARGV[i + 4]), ARGV[i + 5]
        if games > 0 and games >= min_games and (not windowed or seen ~= '') then
          redis.call('ZADD', key .. ':board', ARGV[i + 2], member)
          if windowed then
            redis.call('ZADD', key .. ':seen', seen, player)
          end
        else
          member = ''
          if windowed then
            redis.call('ZREM', key .. ':seen', player)
          end
        end
        redis.call('HSET', key .. ':who', player, version .. ' ' .. member)
        applied = applied + 1
      end
    end
  end
end
return applied
