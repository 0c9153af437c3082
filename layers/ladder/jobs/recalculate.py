"""`elo.recalculate`: replay every non-voided match from a point in `(played_at, seq)` order.

1. Under the job's lock row (one recalculation at a time), read the starting
   standings and the matches in bulk (COPY, text) from one snapshot, without
   blocking anyone.
2. Replay in memory with `ladder.ratings` (the same functions the API uses).
3. In one transaction: COPY the results into unlogged staging tables, then
   lock `players` against writers (readers are never blocked), replay the
   matches recorded meanwhile on top, and apply everything with set-based
   statements. Readers see the old ratings or the new, never a mix; writers
   arriving meanwhile wait for the commit and then rate against the new
   ratings, so nothing is lost. The job is marked succeeded in the same
   transaction, which makes a redelivered message a no-op.

Sizing: 1M matches take seconds (see `make bench`); 10M fit well inside
Lambda's 15 minutes at the measured rate, so no checkpointing is needed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

import psycopg
from psycopg import IsolationLevel
from psycopg.rows import tuple_row
from psycopg.types.json import Jsonb

from ladder.db import Database
from ladder.events import write_event
from ladder.jobs.schedule import RECALCULATE
from ladder.ratings import RatingRules, rate_values

# Beyond this many changed players, leaderboard.changed carries none and
# clients reload on recalculation.completed instead.
MAX_PLAYERS_IN_EVENT = 100

# played_at as fixed-width UTC text: it sorts like the timestamps it names
# and reads back into timestamptz exactly.
MATCH_COLUMNS = (
    "id, seq, to_char(played_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'),"
    " player_a, player_b, score_a"
)


@dataclass(frozen=True)
class Point:
    """A position in rating order."""

    played_at: datetime
    seq: int

    @classmethod
    def from_payload(cls, raw: dict | None) -> Point | None:
        if not raw:
            return None
        return cls(datetime.fromisoformat(raw["played_at"]), int(raw["seq"]))


@dataclass
class Replay:
    """Standings (player id → [rating, games]) and the history rows they produced."""

    standings: dict[str, list] = field(default_factory=dict)
    history: list[str] = field(default_factory=list)  # COPY text lines
    matches: int = 0
    last_key: tuple[str, int] | None = None
    watermark: int = 0  # highest match seq the snapshot saw

    def apply(self, rows: Iterator[list[str]], rules: RatingRules) -> None:
        standings, history, initial = self.standings, self.history, rules.initial
        for match_id, seq, played_at, player_a, player_b, score in rows:
            a = standings.get(player_a) or standings.setdefault(player_a, [initial, 0])
            b = standings.get(player_b) or standings.setdefault(player_b, [initial, 0])
            before_a, before_b = a[0], b[0]
            a[0], b[0] = rate_values(before_a, a[1], before_b, b[1], float(score), rules)
            a[1] += 1
            b[1] += 1
            history.append(f"{player_a}\t{match_id}\t{played_at}\t{seq}\t{before_a!r}\t{a[0]!r}\n")
            history.append(f"{player_b}\t{match_id}\t{played_at}\t{seq}\t{before_b!r}\t{b[0]!r}\n")
            self.matches += 1
            self.last_key = (played_at, int(seq))


def _copy_rows(conn: psycopg.Connection, query: str, params=()) -> Iterator[list[str]]:
    """Rows of a text COPY, split into fields (faster than typed loading for bulk work)."""
    with conn.cursor() as cur, cur.copy(f"COPY ({query}) TO STDOUT", params) as copy:
        tail = b""
        for chunk in copy:
            lines = (tail + bytes(chunk)).split(b"\n")
            tail = lines.pop()
            for line in lines:
                yield line.decode().split("\t")


def _range(start: Point | None, *, after_seq: int | None = None) -> tuple[str, tuple]:
    conditions, params = ["NOT voided"], []
    if start is not None:
        conditions.append("(played_at, seq) >= (%s, %s)")
        params += [start.played_at, start.seq]
    if after_seq is not None:
        conditions.append("seq > %s")
        params.append(after_seq)
    return (
        f"SELECT {MATCH_COLUMNS} FROM matches WHERE {' AND '.join(conditions)}"
        " ORDER BY played_at, seq",
        tuple(params),
    )


def _read_and_replay(conn: psycopg.Connection, start: Point | None, rules: RatingRules) -> Replay:
    replay = Replay()
    cur = conn.cursor(row_factory=tuple_row)
    (replay.watermark,) = cur.execute("SELECT coalesce(max(seq), 0) FROM matches").fetchone()
    if start is not None:
        # Each player's standing just before the start point.
        for player, rating, games in cur.execute(
            "SELECT h.player_id::text, (array_agg(h.rating_after ORDER BY h.played_at DESC,"
            " h.seq DESC))[1], count(*) FROM rating_history h"
            " JOIN matches m ON m.id = h.match_id"
            " WHERE NOT m.voided AND (h.played_at, h.seq) < (%s, %s) GROUP BY h.player_id",
            (start.played_at, start.seq),
        ):
            replay.standings[player] = [rating, games]
    query, params = _range(start)
    replay.apply(_copy_rows(conn, query, params), rules)
    return replay


def recalculate(
    db: Database,
    rules: RatingRules,
    *,
    job_id: UUID,
    start: Point | None,
    progress: Callable[[float], None] = lambda _: None,
) -> dict:
    """Recalculate from `start` (None: everything); returns the job's result."""
    started = time.monotonic()
    with db.connection() as lock_conn, lock_conn.transaction():
        lock_conn.execute("SELECT name FROM job_locks WHERE name = %s FOR UPDATE", (RECALCULATE,))
        with db.connection() as conn:
            # One snapshot for everything read; set as BEGIN options, not SET
            # statements, so an RDS Proxy connection is not pinned.
            conn.isolation_level, conn.read_only = IsolationLevel.REPEATABLE_READ, True
            try:
                with conn.transaction():
                    replay = _read_and_replay(conn, start, rules)
            finally:
                conn.isolation_level, conn.read_only = None, None
            progress(0.6)
            with conn.transaction():
                result = _apply(conn, replay, start, rules, job_id)
    result["seconds"] = round(time.monotonic() - started, 3)
    return result


def _apply(
    conn: psycopg.Connection, replay: Replay, start: Point | None, rules: RatingRules, job_id
) -> dict:
    conn.execute("TRUNCATE recalc_history_staging, recalc_players_staging")
    staged = _stage_history(conn, replay.history)

    # From here writers wait (readers do not) until this transaction commits.
    conn.execute("LOCK TABLE players IN EXCLUSIVE MODE")
    query, params = _range(start, after_seq=replay.watermark)
    late = list(_copy_rows(conn, query, params))
    if late and replay.last_key and _key(late[0]) < replay.last_key:
        # A match recorded meanwhile belongs before what was replayed: redo it
        # all under the lock (rare; correctness over speed).
        conn.execute("TRUNCATE recalc_history_staging")
        replay = _read_and_replay(conn, start, rules)
        staged = _stage_history(conn, replay.history)
    elif late:
        tail = Replay(standings=replay.standings, matches=replay.matches)
        tail.apply(iter(late), rules)
        staged += _stage_history(conn, tail.history)
        replay.matches = tail.matches

    players = conn.cursor(row_factory=tuple_row).execute("SELECT id::text FROM players").fetchall()
    with conn.cursor().copy("COPY recalc_players_staging (id, rating, games) FROM STDIN") as copy:
        for (player,) in players:
            rating, games = replay.standings.get(player, (rules.initial, 0))
            copy.write(f"{player}\t{rating!r}\t{games}\n")

    if start is None:
        conn.execute("DELETE FROM rating_history")
    else:
        conn.execute(
            "DELETE FROM rating_history WHERE (played_at, seq) >= (%s, %s)",
            (start.played_at, start.seq),
        )
    conn.execute(
        "INSERT INTO rating_history (player_id, match_id, played_at, seq, rating_before,"
        " rating_after) SELECT * FROM recalc_history_staging"
    )
    changed = conn.execute(
        "UPDATE players p SET rating = s.rating, games = s.games, updated_at = now()"
        " FROM recalc_players_staging s WHERE p.id = s.id"
        " AND (p.rating, p.games) IS DISTINCT FROM (s.rating, s.games)"
        " RETURNING p.id AS player_id, p.handle, p.rating, p.games"
    ).fetchall()
    result = {"matches": replay.matches, "history_rows": staged, "players_changed": len(changed)}
    write_event(
        conn,
        "recalculation.completed",
        {"job_id": job_id, "matches": replay.matches, "players": len(changed)},
    )
    write_event(
        conn,
        "leaderboard.changed",
        {
            "reason": "recalculation",
            "players": changed if len(changed) <= MAX_PLAYERS_IN_EVENT else [],
        },
    )
    conn.execute(
        "UPDATE jobs SET status = 'succeeded', progress = 1, finished_at = now(), result = %s,"
        " error = NULL WHERE id = %s",
        (Jsonb(result), job_id),
    )
    return result


def _stage_history(conn: psycopg.Connection, lines: list[str]) -> int:
    with conn.cursor().copy(
        "COPY recalc_history_staging (player_id, match_id, played_at, seq, rating_before,"
        " rating_after) FROM STDIN"
    ) as copy:
        for offset in range(0, len(lines), 10_000):
            copy.write("".join(lines[offset : offset + 10_000]))
    return len(lines)


def _key(row: list[str]) -> tuple[str, int]:
    return (row[2], int(row[1]))
