"""Recalculation: 1,000,000 matches among 10,000 players, Postgres → Postgres.

Baselines, same run and database:
- the floor: COPY the matches out and the 2,000,000 history rows in, nothing else;
- the naive approach: per match, read both players and UPDATE each (plus its
  two history rows), on a 20,000-match sample, extrapolated to 1,000,000.

A recalculation from the last 1% of the matches against the full one (what reaching
a point late in the history costs). And a late match in a season: the same ladder
given seasons so that the last 100,000 matches form the open season and the rest a
closed one, a recalculation from the season's first instant (the worst a late match
in it can cost) against the full recalculation above.
"""

from __future__ import annotations

import time
import uuid
from contextlib import ExitStack

import psycopg

from ladder_dev.bench import Result, generate_ladder_sql

PLAYERS = 10_000
MATCHES = 1_000_000
NAIVE_SAMPLE = 20_000
SEASON_MATCHES = 100_000

GENERATE = generate_ladder_sql(PLAYERS, MATCHES)


def _floor(conn: psycopg.Connection) -> float:
    from ladder.ratings.recalculation import MATCH_COLUMNS

    conn.execute("CREATE TABLE floor_history (LIKE rating_history INCLUDING ALL)")
    started = time.perf_counter()
    data = bytearray()
    with (
        conn.cursor() as cur,
        cur.copy(
            f"COPY (SELECT {MATCH_COLUMNS} FROM matches WHERE NOT voided ORDER BY played_at, seq)"
            " TO STDOUT"
        ) as copy,
    ):
        for chunk in copy:
            data += chunk
    copy_out = time.perf_counter() - started
    # The same 2M history rows ours writes (values aside), prepared before timing.
    lines = []
    for row in data.decode().splitlines():
        match_id, seq, played_at, player_a, player_b, _ = row.split("\t")
        for player in (player_a, player_b):
            lines.append(f"{player}\t{match_id}\t{played_at}\t{seq}\t1500.0\t1510.0\t1\n")
    started = time.perf_counter()
    with (
        conn.cursor() as cur,
        cur.copy(
            "COPY floor_history (player_id, match_id, played_at, seq, rating_before, rating_after,"
            " ladder_id) FROM STDIN"
        ) as copy,
    ):
        for offset in range(0, len(lines), 10_000):
            copy.write("".join(lines[offset : offset + 10_000]))
    copy_in = time.perf_counter() - started
    conn.execute("DROP TABLE floor_history")
    return copy_out + copy_in


def _naive(conn: psycopg.Connection) -> float:
    """One SELECT and one UPDATE per player per match, with its history INSERTs."""
    from ladder.ratings.elo import RatingRules, rate_values

    rules = RatingRules()
    matches = conn.execute(
        "SELECT id, seq, played_at, player_a, player_b, score_a FROM matches"
        " ORDER BY played_at, seq LIMIT %s",
        (NAIVE_SAMPLE,),
    ).fetchall()
    conn.execute("CREATE TABLE naive_history (LIKE rating_history INCLUDING ALL)")
    started = time.perf_counter()
    with conn.transaction():
        for match_id, seq, played_at, a, b, score in matches:
            (ra, ga), (rb, gb) = (
                conn.execute(
                    "SELECT rating, games FROM standings WHERE ladder_id = 1 AND player_id = %s"
                    " FOR UPDATE",
                    (p,),
                ).fetchone()
                for p in (a, b)
            )
            after_a, after_b = rate_values(ra, ga, rb, gb, score, rules)
            for player, before, after, games in ((a, ra, after_a, ga), (b, rb, after_b, gb)):
                conn.execute(
                    "UPDATE standings SET rating = %s, games = %s"
                    " WHERE ladder_id = 1 AND player_id = %s",
                    (after, games + 1, player),
                )
                conn.execute(
                    "INSERT INTO naive_history VALUES (%s, %s, %s, %s, %s, %s, 1)",
                    (player, match_id, played_at, seq, before, after),
                )
    elapsed = time.perf_counter() - started
    conn.execute("DROP TABLE naive_history")
    return elapsed * MATCHES / NAIVE_SAMPLE


def _late_match_in_a_season(db, url: str) -> float:
    """The ladder gets seasons whose first starts at the first of the last 100,000
    matches (match g is played at 2025-01-01 + g s); the time before it (season 0)
    closes; then a recalculation from the open season's first instant is timed."""
    from datetime import UTC, datetime, timedelta

    from ladder.ratings.recalculation import Point, recalculate
    from ladder.seasons import close_due

    boundary = datetime(2025, 1, 1, tzinfo=UTC) + timedelta(seconds=MATCHES - SEASON_MATCHES + 1)
    schedule = {"every": "P1000D", "anchor": boundary.isoformat(), "grace_seconds": 0}
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "UPDATE ladders SET seasons = %s WHERE id = 1", (psycopg.types.json.Jsonb(schedule),)
        )
    started = time.perf_counter()
    assert close_due(db, 1, boundary) == [0]
    print(
        f"  recalc: closed season 0 ({MATCHES - SEASON_MATCHES:,} matches) in"
        f" {time.perf_counter() - started:.1f} s",
        flush=True,
    )
    job_id = uuid.uuid4()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("INSERT INTO jobs (id, type) VALUES (%s, 'elo.recalculate')", (job_id,))
    started = time.perf_counter()
    result = recalculate(db, job_id=job_id, ladder_id=1, start=Point(boundary, 0))
    elapsed = time.perf_counter() - started
    assert result["matches"] == SEASON_MATCHES, result
    assert result["players_changed"] == 0, result  # in order: nothing moves
    return elapsed


def _last_percent(db, url: str) -> float:
    """A recalculation from the first of the last 1% of the matches (10,000): in order,
    so nothing changes, and its cost is what reaching that point costs."""
    from datetime import UTC, datetime, timedelta

    from ladder.ratings.recalculation import Point, recalculate

    first = MATCHES - MATCHES // 100 + 1  # match g is played at 2025-01-01 + g s
    start = Point(datetime(2025, 1, 1, tzinfo=UTC) + timedelta(seconds=first), first)
    job_id = uuid.uuid4()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("INSERT INTO jobs (id, type) VALUES (%s, 'elo.recalculate')", (job_id,))
    started = time.perf_counter()
    result = recalculate(db, job_id=job_id, ladder_id=1, start=start)
    elapsed = time.perf_counter() - started
    assert result["matches"] == MATCHES // 100, result
    assert result["players_changed"] == 0, result
    return elapsed


def bench_recalculation() -> list[Result]:
    from ladder.db import Database
    from ladder.db.migrations import migrate
    from ladder.ratings.recalculation import recalculate
    from ladder_dev.local_services import any_postgres, scratch_database

    with ExitStack() as stack:
        url = stack.enter_context(scratch_database(stack.enter_context(any_postgres()), "recalc"))
        migrate(url)
        with psycopg.connect(url, autocommit=True) as conn:
            started = time.perf_counter()
            conn.execute(GENERATE)
            print(
                f"  recalc: generated {MATCHES:,} matches in {time.perf_counter() - started:.1f} s",
                flush=True,
            )
            floor = _floor(conn)
            job_id = uuid.uuid4()
            conn.execute("INSERT INTO jobs (id, type) VALUES (%s, 'elo.recalculate')", (job_id,))
        db = Database(url, pool_size=3)
        stack.callback(db.close)
        started = time.perf_counter()
        result = recalculate(db, job_id=job_id, ladder_id=1, start=None)
        ours = time.perf_counter() - started
        assert result["matches"] == MATCHES, result
        tail = _last_percent(db, url)
        season = _late_match_in_a_season(db, url)
        with psycopg.connect(url, autocommit=True) as conn:
            naive = _naive(conn)
    label = f"{MATCHES:,} matches, {PLAYERS:,} players"
    print(
        f"  recalc: {MATCHES / ours:,.0f} matches/s; 10M extrapolated: {ours * 10:.0f} s",
        flush=True,
    )
    return [
        Result(
            f"recalculation ({label})",
            ours,
            "s",
            "floor: COPY matches out + 2M history rows in",
            floor,
            ours / floor,
            2.0,
        ),
        Result(
            f"recalculation from the last 1% ({MATCHES // 100:,} matches; {label})",
            tail,
            "s",
            "the full recalculation",
            ours,
            tail / ours,
            0.05,
        ),
        Result(
            f"late match in a season of {SEASON_MATCHES:,} matches ({label})",
            season,
            "s",
            "the full recalculation",
            ours,
            season / ours,
            0.2,
        ),
        Result(
            f"recalculation vs naive ({label})",
            ours,
            "s",
            f"one UPDATE per player per match ({NAIVE_SAMPLE:,} sample, extrapolated)",
            naive,
            ours / naive,
            1.0,
        ),
    ]
