-- Imported files, one row each: importing the same file into the same ladder
-- again finds it here and changes nothing.
CREATE TABLE imports (
    ladder_id   integer NOT NULL REFERENCES ladders (id),
    kind        text NOT NULL CHECK (kind IN ('matches')),
    sha256      text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    rows        integer NOT NULL CHECK (rows > 0),
    players_created integer NOT NULL,
    job_id      uuid NOT NULL,
    imported_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (ladder_id, kind, sha256)
);
