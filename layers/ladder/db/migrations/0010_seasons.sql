-- Seasons: a ladder's optional schedule, the soft reset as an entry in rating
-- history, and the frozen final standings of every closed season. Opening
-- balances (`ladder import standings`), entries in rating history too.

-- The schedule (ladder.seasons.SeasonSchedule as JSON; null: no seasons) and
-- the latest boundary whose soft reset rating history holds.
ALTER TABLE ladders ADD COLUMN seasons jsonb, ADD COLUMN reset_through timestamptz;

-- A history entry is a match's, a season's reset or an opening balance (no
-- match): the key becomes a unique index, which lets those have no match.
ALTER TABLE rating_history DROP CONSTRAINT rating_history_pkey;
ALTER TABLE rating_history
    ADD COLUMN reason text NOT NULL DEFAULT 'match'
        CHECK (reason IN ('match', 'season_reset', 'import')),
    ALTER COLUMN match_id DROP NOT NULL;
ALTER TABLE rating_history ADD CONSTRAINT rating_history_match_entry
    CHECK ((reason = 'match') = (match_id IS NOT NULL));
CREATE UNIQUE INDEX rating_history_player_match ON rating_history (player_id, match_id);

ALTER TABLE recalc_history_staging
    ALTER COLUMN match_id DROP NOT NULL,
    ADD COLUMN reason text NOT NULL DEFAULT 'match';

-- A row per closed season (0: the time before the first season's anchor).
CREATE TABLE seasons (
    ladder_id  integer NOT NULL REFERENCES ladders (id),
    number     integer NOT NULL CHECK (number >= 0),
    starts_at  timestamptz,
    ends_at    timestamptz NOT NULL,
    closed_at  timestamptz NOT NULL DEFAULT now(),
    players    integer NOT NULL,
    ranked     integer NOT NULL,
    PRIMARY KEY (ladder_id, number)
);

-- Every standing as of a closed season's end instant, with the board policy of
-- the close applied (rank and percentile null off the board).
CREATE TABLE season_standings (
    ladder_id      integer NOT NULL,
    season         integer NOT NULL,
    player_id      uuid NOT NULL REFERENCES players (id),
    handle         text NOT NULL,
    rating         double precision NOT NULL,
    games          integer NOT NULL,
    last_played_at timestamptz,
    rank           integer,
    percentile     double precision,
    provisional    boolean NOT NULL,
    PRIMARY KEY (ladder_id, season, player_id),
    FOREIGN KEY (ladder_id, season) REFERENCES seasons (ladder_id, number)
);
CREATE INDEX season_standings_board ON season_standings (ladder_id, season, rank)
    WHERE rank IS NOT NULL;

-- A player's standing in a ladder before their first match there, imported
-- (`ladder import standings`): an input of every recalculation, which applies
-- it at (applies_at, seq 0) in rating order, `applies_at` being where rating
-- order was open when it was imported (the earliest open season's start, or
-- the earliest time).
CREATE TABLE opening_balances (
    ladder_id  integer NOT NULL REFERENCES ladders (id),
    player_id  uuid NOT NULL REFERENCES players (id),
    rating     double precision NOT NULL,
    games      integer NOT NULL CHECK (games >= 0),
    applies_at timestamptz NOT NULL,
    PRIMARY KEY (ladder_id, player_id)
);

-- Standings files are imported once per ladder too; they schedule no job
-- unless a recalculation must place them (see ladder.imports).
ALTER TABLE imports DROP CONSTRAINT imports_kind_check,
    ADD CONSTRAINT imports_kind_check CHECK (kind IN ('matches', 'standings')),
    ALTER COLUMN job_id DROP NOT NULL;
