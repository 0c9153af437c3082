-- Job pipeline: dispatch bookkeeping, results, the recalculation lock row,
-- and the rating rules the stored ratings were computed with.

ALTER TABLE jobs
    ADD COLUMN dispatched_at timestamptz,
    ADD COLUMN heartbeat_at  timestamptz,
    ADD COLUMN result        jsonb;

-- Jobs committed but not yet sent to the queue (the sweeper re-sends them).
CREATE INDEX jobs_undispatched ON jobs (created_at) WHERE dispatched_at IS NULL;

-- One row per exclusive job kind; holding its row lock means "running".
-- A row lock (not an advisory lock) so it never pins an RDS Proxy connection.
CREATE TABLE job_locks (name text PRIMARY KEY);
INSERT INTO job_locks (name) VALUES ('elo.recalculate');

-- The rating parameters the stored ratings follow; a deploy with different
-- parameters schedules a full recalculation.
CREATE TABLE rating_rules_applied (
    singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    rules      jsonb NOT NULL,
    changed_at timestamptz NOT NULL DEFAULT now()
);

-- Rating order over history, for a recalculation's range delete.
CREATE INDEX rating_history_rating_order ON rating_history (played_at, seq);

-- Staging for the recalculation's bulk write: regular (not temporary) tables,
-- because temporary tables would pin an RDS Proxy connection; unlogged, because
-- their content is rebuilt by every run under the job lock.
CREATE UNLOGGED TABLE recalc_history_staging (
    player_id     uuid NOT NULL,
    match_id      uuid NOT NULL,
    played_at     timestamptz NOT NULL,
    seq           bigint NOT NULL,
    rating_before double precision NOT NULL,
    rating_after  double precision NOT NULL
);
CREATE UNLOGGED TABLE recalc_players_staging (
    id     uuid NOT NULL,
    rating double precision NOT NULL,
    games  integer NOT NULL
);
