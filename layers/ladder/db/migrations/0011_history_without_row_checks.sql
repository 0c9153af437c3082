-- Rating history is derived: the recalculation rebuilds it from `matches`,
-- `opening_balances` and the season schedule, and it is written only with
-- what those hold (the API's match in the same transaction, a replay of rows
-- read under the writers' lock). Its foreign keys checked each row one query
-- at a time; measured on a 1,000,000-match import, they doubled the cost of
-- writing the 2,000,000 entries (111 s against 55 s). They go, and the
-- restore drill checks the same and more in one set-based query
-- (ladder.backup.integrity: every entry's match, ladder and player exist, and
-- the player played that match in that ladder).
ALTER TABLE rating_history
    DROP CONSTRAINT rating_history_player_id_fkey,
    DROP CONSTRAINT rating_history_match_id_fkey,
    DROP CONSTRAINT rating_history_ladder_id_fkey;

-- One index keeps an entry per player per match and finds a match's entries:
-- (match_id, player_id) serves both, where two indexes did.
CREATE UNIQUE INDEX rating_history_match_player ON rating_history (match_id, player_id);
DROP INDEX rating_history_player_match, rating_history_match;

-- The recalculation COPYs its entries straight into the history, under the
-- writers' lock: staging them first cost more and held the lock as long.
DROP TABLE recalc_history_staging;
