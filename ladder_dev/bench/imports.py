"""Import: 1,000,000 matches among 10,000 players from CSV, end to end (validate,
load, rate), into a fresh ladder.

Baseline, same run and database: the floor of COPY-ing the same file into a
bare table and its 2,000,000 history rows into a table like `rating_history`
(with its indexes, as the recalculation benchmark's floor), with the ids the
import gives them (index cost depends on them: made-up sequential ids halved
this floor's cost once the history's unique index led with the match).
"""

from __future__ import annotations

import os
import random
import tempfile
import time
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

from ladder.ids import time_ordered_ids
from ladder_dev.bench import Result

PLAYERS = 10_000
MATCHES = 1_000_000


def write_csv(path: Path, matches: int = MATCHES, players: int = PLAYERS) -> None:
    rng = random.Random(5)
    at = datetime(2020, 1, 1, tzinfo=UTC)
    with path.open("w") as out:
        out.write("played_at,player_a,player_b,score_a\n")
        lines = []
        for i in range(matches):
            at += timedelta(seconds=rng.randrange(0, 3))  # some rows share a time
            a, b = rng.sample(range(players), 2)
            lines.append(f"{at:%Y-%m-%dT%H:%M:%S}Z,p_{a},p_{b},{('1', '0.5', '0')[i % 3]}\n")
            if len(lines) == 50_000:
                out.write("".join(lines))
                lines.clear()
        out.write("".join(lines))


MATCH_COLUMNS = "id, ladder_id, seq, played_at, player_a, player_b, score_a"
HISTORY_COLUMNS = "player_id, match_id, ladder_id, played_at, seq, rating_before, rating_after"


def _rows_as_stored(path: Path, player_id: Callable[[str], object]) -> tuple[list, list]:
    """The file's matches and their 2M history rows (values aside) as COPY lines, with
    the ids the import gives them: `player_id(handle)`, time-ordered match ids.
    Prepared before timing."""
    match_ids = time_ordered_ids(MATCHES)
    matches, history = [], []
    with path.open() as source:
        next(source)
        for seq, line in enumerate(source, 1):
            played, a, b, score = line.rstrip("\n").split(",")
            match_id, id_a, id_b = next(match_ids), player_id(a), player_id(b)
            matches.append(f"{match_id}\t1\t{seq}\t{played}\t{id_a}\t{id_b}\t{score}\n")
            for player in (id_a, id_b):
                history.append(f"{player}\t{match_id}\t1\t{played}\t{seq}\t1500.0\t1510.0\n")
    return matches, history


def _copy(conn: psycopg.Connection, table: str, columns: str, lines: list[str]) -> None:
    with conn.cursor().copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        for offset in range(0, len(lines), 10_000):
            copy.write("".join(lines[offset : offset + 10_000]))


def _floor(url: str, path: Path) -> float:
    """The issue's floor: the file COPY-ed into a bare table, its history rows into a
    table like `rating_history`."""
    players: dict[str, uuid.UUID] = {}  # a random id per player, as the import gives
    _, history = _rows_as_stored(
        path, lambda h: players.get(h) or players.setdefault(h, uuid.uuid4())
    )
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE floor_file (played_at timestamptz, player_a text, player_b text,"
            " score_a double precision)"
        )
        conn.execute("CREATE TABLE floor_history (LIKE rating_history INCLUDING ALL)")
        started = time.perf_counter()
        with (
            path.open("rb") as source,
            conn.cursor().copy("COPY floor_file FROM STDIN (FORMAT csv, HEADER true)") as copy,
        ):
            while chunk := source.read(1 << 20):
                copy.write(chunk)
        _copy(conn, "floor_history", HISTORY_COLUMNS, history)
        elapsed = time.perf_counter() - started
        conn.execute("DROP TABLE floor_file, floor_history")
    return elapsed


def _storage(url: str, path: Path) -> float:
    """What storing the file costs as the schema keeps it, nothing else: its rows COPY-ed
    as matches (keys, indexes, foreign keys) and its history rows, with the import's
    ids, into tables like `matches` and `rating_history`. Run after the import, whose
    players the rows name."""
    with psycopg.connect(url, autocommit=True) as conn:
        players = dict(conn.execute("SELECT handle, id FROM players").fetchall())
        matches, history = _rows_as_stored(path, players.__getitem__)
        conn.execute(
            "CREATE TABLE storage_matches (LIKE matches INCLUDING ALL,"
            " FOREIGN KEY (player_a) REFERENCES players (id),"
            " FOREIGN KEY (player_b) REFERENCES players (id),"
            " FOREIGN KEY (ladder_id) REFERENCES ladders (id))"
        )
        conn.execute("CREATE TABLE storage_history (LIKE rating_history INCLUDING ALL)")
        started = time.perf_counter()
        _copy(conn, "storage_matches", MATCH_COLUMNS, matches)
        _copy(conn, "storage_history", HISTORY_COLUMNS, history)
        elapsed = time.perf_counter() - started
        conn.execute("DROP TABLE storage_matches, storage_history")
    return elapsed


def bench_import() -> list[Result]:
    from ladder import commands
    from ladder.db.migrations import migrate
    from ladder.resources import Resources
    from ladder.settings import Settings
    from ladder_dev.local_services import any_postgres, any_redis, scratch_database

    with ExitStack() as stack:
        url = stack.enter_context(scratch_database(stack.enter_context(any_postgres()), "import"))
        migrate(url)
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        path = folder / "history.csv"
        write_csv(path)
        size = os.path.getsize(path)
        print(f"  import: {MATCHES:,} matches, {size / 2**20:.0f} MiB of CSV", flush=True)
        floor = _floor(url, path)
        settings = Settings(DATABASE_URL=url, REDIS_URL=stack.enter_context(any_redis()))
        res = Resources.from_settings(settings)
        stack.callback(res.close)
        started = time.perf_counter()
        with path.open("rb") as source:
            loaded = commands.import_matches(res, source, "default")
        loaded_at = time.perf_counter()
        result = commands.run_job_here(res, loaded.job_id)
        ours = time.perf_counter() - started
        assert result is not None, loaded
        assert result["matches"] == MATCHES, result
        storage = _storage(url, path)
        print(
            f"  import: validated and stored in {loaded_at - started:.1f} s,"
            f" rated in {ours - (loaded_at - started):.1f} s; floor {floor:.1f} s,"
            f" storing as the schema keeps it {storage:.1f} s",
            flush=True,
        )
    return [
        Result(
            f"import of {MATCHES:,} matches from CSV (validate, load, rate)",
            ours,
            "s",
            "COPY the file into a bare table and its 2,000,000 history rows in",
            floor,
            ours / floor,
            2.5,
        ),
        # The floor above leaves out storing the matches as the schema keeps them (five
        # indexes, three foreign keys), which alone measured 2.2-2.5x that floor: the
        # import's own work (validate, rate, write) is measured against this one.
        Result(
            f"import of {MATCHES:,} matches from CSV, against storing them",
            ours,
            "s",
            "COPY its rows as matches and its history rows into tables like the schema's",
            storage,
            ours / storage,
            1.5,
        ),
    ]
