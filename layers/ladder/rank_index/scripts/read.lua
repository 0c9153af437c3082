-- Read the live generation of a ladder's rank index: a player's rank, or a page.
-- KEYS[1]: the ladder's base key. ARGV[1]: now (epoch microseconds), ARGV[2]: what
-- to read, then its arguments:
--   'rank' <player>                    -> {gen, size, policy..., version, rank}
--   'top' <limit>                      -> {gen, size, policy..., start, rows...}
--   'after'|'before' <score> <key> <limit>, 'around' <player> <limit>: as 'top'
-- Returns nil when there is no live generation (the caller asks Postgres).
-- Ranks are 0-based positions here; rows are member, score pairs. 'rank' gives
-- version -1 for a player the index has not heard of, rank -1 off the board;
-- 'around' gives start -1 for a player off the board.
local base = KEYS[1]
local gen = redis.call('GET', base .. ':live')
if not gen then
  return nil
end
local key = base .. ':' .. gen
local board = key .. ':board'
local policy = redis.call('HMGET', key .. ':policy', 'window', 'provisional_games', 'min_games')
if not policy[1] then
  return nil
end

-- The inactivity rule: whoever last played before now - window leaves the board
-- here, once, as time passes (a new match puts them back). At most 1,000 per
-- read, so no read holds Redis long: with more due, this read answers nil (the
-- caller asks Postgres) and the next ones carry on.
if policy[1] ~= '' then
  local cutoff = tonumber(ARGV[1]) - tonumber(policy[1])
  local gone = redis.call('ZRANGEBYSCORE', key .. ':seen', '-inf',
    '(' .. string.format('%.0f', cutoff), 'LIMIT', 0, 1001)
  for n, player in ipairs(gone) do
    if n > 1000 then
      return nil
    end
    local held = redis.call('HGET', key .. ':who', player)
    local space = string.find(held, ' ', 1, true)
    redis.call('ZREM', board, string.sub(held, space + 1))
    redis.call('HSET', key .. ':who', player, string.sub(held, 1, space))
    redis.call('ZREM', key .. ':seen', player)
  end
end

local size = redis.call('ZCARD', board)
local head = {gen, size, policy[1], policy[2], policy[3]}

-- Byte order, as the sorted set orders members (Lua's `<` on strings follows
-- the server's locale).
local function bytes_before(a, b)
  for i = 1, math.min(#a, #b) do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then
      return x < y
    end
  end
  return #a < #b
end

-- How many stand before a position (score, member prefix), and whether
-- someone stands exactly at it: the ties on its score are searched by halves.
local function position(score, prefix)
  local low = redis.call('ZCOUNT', board, '-inf', '(' .. score)
  local high = redis.call('ZCOUNT', board, '-inf', score)
  local last = high
  while low < high do
    local middle = math.floor((low + high) / 2)
    if bytes_before(redis.call('ZRANGE', board, middle, middle)[1], prefix) then
      low = middle + 1
    else
      high = middle
    end
  end
  local at = false
  if low < last then
    at = string.sub(redis.call('ZRANGE', board, low, low)[1], 1, #prefix) == prefix
  end
  return low, at
end

local function member_of(player)
  local held = redis.call('HGET', key .. ':who', player)
  if not held then
    return nil, nil
  end
  local space = string.find(held, ' ', 1, true)
  return string.sub(held, 1, space - 1), string.sub(held, space + 1)
end

local op = ARGV[2]
if op == 'rank' then
  local version, member = member_of(ARGV[3])
  local rank = -1
  if member and member ~= '' then
    rank = redis.call('ZRANK', board, member)
  end
  table.insert(head, version or -1)
  table.insert(head, rank)
  return head
end

local start, limit
if op == 'top' then
  start, limit = 0, tonumber(ARGV[3])
elseif op == 'after' then
  local before, at = position(ARGV[3], ARGV[4])
  start, limit = before + (at and 1 or 0), tonumber(ARGV[5])
elseif op == 'before' then
  local before = position(ARGV[3], ARGV[4])
  limit = tonumber(ARGV[5])
  -- Fewer above than a page (the board moved since the cursor): the top page.
  start = before >= limit and before - limit or 0
elseif op == 'around' then
  local _, member = member_of(ARGV[3])
  limit = tonumber(ARGV[4])
  if not member or member == '' then
    table.insert(head, -1)
    return head
  end
  local rank = redis.call('ZRANK', board, member)
  start = math.max(0, math.min(rank - math.floor((limit - 1) / 2), size - limit))
else
  return redis.error_reply('unknown read ' .. tostring(op))
end
table.insert(head, start)
for _, value in ipairs(redis.call('ZRANGE', board, start, start + limit - 1, 'WITHSCORES')) do
  table.insert(head, value)
end
return head
