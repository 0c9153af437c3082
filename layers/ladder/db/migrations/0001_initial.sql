-- ladder's initial schema. SQL that PostgreSQL 15 (CI) and 18 (embedded) both accept.

CREATE TABLE players (
    id            uuid PRIMARY KEY,
    handle        text NOT NULL CHECK (handle ~ '^[a-z0-9_]{3,32}$'),
    display_name  text NOT NULL CHECK (length(display_name) BETWEEN 1 AND 64),
    email         text,
    rating        double precision NOT NULL,
    games         integer NOT NULL DEFAULT 0 CHECK (games >= 0),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
-- Handles are stored lower-case; the index on lower() keeps uniqueness
-- case-insensitive even for rows written by other tools.
CREATE UNIQUE INDEX players_handle_key ON players (lower(handle));
-- The leaderboard: players with at least one game, best first.
CREATE INDEX players_leaderboard ON players (rating DESC, games DESC, handle) WHERE games > 0;

-- Recording order of matches; taken while both players are locked.
CREATE SEQUENCE match_seq AS bigint;

CREATE TABLE matches (
    id          uuid PRIMARY KEY,
    seq         bigint NOT NULL UNIQUE,
    played_at   timestamptz NOT NULL,
    player_a    uuid NOT NULL REFERENCES players (id),
    player_b    uuid NOT NULL REFERENCES players (id),
    score_a     double precision NOT NULL CHECK (score_a IN (0, 0.5, 1)),
    voided      boolean NOT NULL DEFAULT false,
    voided_at   timestamptz,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    CHECK (player_a <> player_b)
);
-- Rating order, for recalculations.
CREATE INDEX matches_rating_order ON matches (played_at, seq);
CREATE INDEX matches_player_a ON matches (player_a, played_at DESC, seq DESC);
CREATE INDEX matches_player_b ON matches (player_b, played_at DESC, seq DESC);

-- One row per player per rated match: the rating before and after it.
CREATE TABLE rating_history (
    player_id     uuid NOT NULL REFERENCES players (id),
    match_id      uuid NOT NULL REFERENCES matches (id),
    played_at     timestamptz NOT NULL,
    seq           bigint NOT NULL,
    rating_before double precision NOT NULL,
    rating_after  double precision NOT NULL,
    PRIMARY KEY (player_id, match_id)
);
CREATE INDEX rating_history_player_order ON rating_history (player_id, played_at DESC, seq DESC);
CREATE INDEX rating_history_match ON rating_history (match_id);

-- Events written in the same transaction as the change they describe. The
-- relay assigns `seq` (the gap-free stream id) when it publishes them.
CREATE TABLE event_outbox (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    type         text NOT NULL,
    topics       text[] NOT NULL,
    payload      jsonb NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    seq          bigint UNIQUE,
    published_at timestamptz
);
CREATE INDEX event_outbox_unpublished ON event_outbox (id) WHERE seq IS NULL;

-- Responses of idempotent writes, per caller and key.
CREATE TABLE idempotency_records (
    principal    text NOT NULL,
    key          text NOT NULL,
    operation    text NOT NULL,
    request_hash text NOT NULL,
    status_code  integer NOT NULL,
    response     jsonb NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (principal, key)
);
CREATE INDEX idempotency_records_created ON idempotency_records (created_at);

-- Background jobs (recalculations, cache invalidation): state and progress.
CREATE TABLE jobs (
    id          uuid PRIMARY KEY,
    type        text NOT NULL,
    status      text NOT NULL DEFAULT 'queued'
                CHECK (status IN ('queued', 'running', 'succeeded', 'failed')),
    payload     jsonb NOT NULL DEFAULT '{}'::jsonb,
    progress    double precision NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 1),
    error       text,
    attempts    integer NOT NULL DEFAULT 0,
    created_at  timestamptz NOT NULL DEFAULT now(),
    started_at  timestamptz,
    finished_at timestamptz
);
CREATE INDEX jobs_status ON jobs (status, created_at);
