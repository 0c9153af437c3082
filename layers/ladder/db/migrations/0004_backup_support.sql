-- Tie match_seq to its column, so restores find and reset it like any other
-- sequence (pg_get_serial_sequence).
ALTER SEQUENCE match_seq OWNED BY matches.seq;

-- Tables whose rows migrations write: a restore replaces them without
-- counting them as data already in the target.
COMMENT ON TABLE job_locks IS 'ladder:seeded';
