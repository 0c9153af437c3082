-- The board's order ends with "handle asc", which followed the database's
-- collation: C here and in CI, but en_US on a default RDS instance, where
-- `a_c` sorts after `ab` (punctuation is ignored at first). Handles are
-- ASCII (a-z, 0-9, _), and clients, the independent replays in the tests and
-- any rank index outside Postgres compare them byte by byte: so does the board
-- now, everywhere. Only the collation changes: no table rewrite; the index
-- that carries the handle is rebuilt.
ALTER TABLE standings ALTER COLUMN handle TYPE text COLLATE "C";
ALTER TABLE season_standings ALTER COLUMN handle TYPE text COLLATE "C";
