-- Take standings into the rank index, keeping per player the highest version.
-- KEYS[1]: the ladder's base key. ARGV[1]: one generation, or '' for every
-- generation writers keep (`gens`: the live one and any being built). Then six
-- values per standing (`entries.indexed_columns`): player id, version, score,
-- member, games, last played (epoch microseconds, '' for never); a player at
-- most once per call.
--
-- `who` maps each player the generation has heard of to "<version> <member>"
-- (member '' while off the board), so an update older than what it holds (a
-- writer that reached Redis late, a rebuild's older snapshot) changes nothing,
-- and an equal one (a repair, a redelivery) writes the same again. A call
-- makes a few commands whatever its size (at most 8000 arguments each, Lua's
-- limit for unpack), so a rebuild costs Redis little per standing.
local base = KEYS[1]
local gens
if ARGV[1] == '' then
  gens = redis.call('SMEMBERS', base .. ':gens')
else
  gens = {ARGV[1]}
end
local players = {}
for i = 2, #ARGV, 6 do
  players[#players + 1] = ARGV[i]
end
if #players == 0 then
  return 0
end
local applied = 0
for _, gen in ipairs(gens) do
  local key = base .. ':' .. gen
  local policy = redis.call('HMGET', key .. ':policy', 'min_games', 'window')
  if policy[1] then -- a generation dropped meanwhile has no policy: skip it
    local min_games, windowed = tonumber(policy[1]), policy[2] ~= ''
    local held = redis.call('HMGET', key .. ':who', unpack(players))
    local gone, added, seen, unseen, who = {}, {}, {}, {}, {}
    for n, player in ipairs(players) do
      local i = 2 + (n - 1) * 6
      local version = ARGV[i + 1]
      local take = true
      if held[n] then
        local space = string.find(held[n], ' ', 1, true)
        take = tonumber(version) >= tonumber(string.sub(held[n], 1, space - 1))
        if take and space < #held[n] then
          gone[#gone + 1] = string.sub(held[n], space + 1)
        end
      end
      if take then
        local member, games, last = ARGV[i + 3], tonumber(ARGV[i + 4]), ARGV[i + 5]
        if games > 0 and games >= min_games and (not windowed or last ~= '') then
          added[#added + 1] = ARGV[i + 2]
          added[#added + 1] = member
          if windowed then
            seen[#seen + 1] = last
            seen[#seen + 1] = player
          end
        else
          member = ''
          unseen[#unseen + 1] = player
        end
        who[#who + 1] = player
        who[#who + 1] = version .. ' ' .. member
        applied = applied + 1
      end
    end
    -- Removals first: a player's old member goes before their new one comes.
    if #gone > 0 then redis.call('ZREM', key .. ':board', unpack(gone)) end
    if #added > 0 then redis.call('ZADD', key .. ':board', unpack(added)) end
    if windowed and #unseen > 0 then redis.call('ZREM', key .. ':seen', unpack(unseen)) end
    if #seen > 0 then redis.call('ZADD', key .. ':seen', unpack(seen)) end
    if #who > 0 then redis.call('HSET', key .. ':who', unpack(who)) end
  end
end
return applied
