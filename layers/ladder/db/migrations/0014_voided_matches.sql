-- A recalculation from a point finds the voided matches before it whose entries
-- are still in the history (their own recalculation has not run): few, found
-- through this small index instead of a scan of every match of the ladder.
CREATE INDEX matches_voided ON matches (ladder_id, played_at, seq) WHERE voided;
