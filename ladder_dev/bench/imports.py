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


def _floor(url: str, path: Path) -> float:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE floor_file (played_at timestamptz, player_a text, player_b text,"
            " score_a double precision)"
        )
        conn.execute("CREATE TABLE floor_history (LIKE rating_history INCLUDING ALL)")
        # The 2M history rows the import writes (values aside), prepared untimed, with
        # the ids it gives them: a random id per player, time-ordered match ids.
        players: dict[str, uuid.UUID] = {}
        match_ids = time_ordered_ids(MATCHES)
        history = []
        with path.open() as source:
            next(source)
            for seq, line in enumerate(source, 1):
                played, a, b, _ = line.split(",")
                match_id = next(match_ids)
                for handle in (a, b):
                    player = players.get(handle) or players.setdefault(handle, uuid.uuid4())
                    history.append(f"{player}\t{match_id}\t1\t{played}\t{seq}\t1500.0\t1510.0\n")
        started = time.perf_counter()
        with (
            path.open("rb") as source,
            conn.cursor().copy("COPY floor_file FROM STDIN (FORMAT csv, HEADER true)") as copy,
        ):
            while chunk := source.read(1 << 20):
                copy.write(chunk)
        with conn.cursor().copy(
            "COPY floor_history (player_id, match_id, ladder_id, played_at, seq, rating_before,"
            " rating_after) FROM STDIN"
        ) as copy:
            for offset in range(0, len(history), 10_000):
                copy.write("".join(history[offset : offset + 10_000]))
        elapsed = time.perf_counter() - started
        conn.execute("DROP TABLE floor_file, floor_history")
    return elapsed


def _storage(url: str, path: Path) -> float:
    """What storing the file costs as the schema keeps it, nothing else: its rows COPY-ed
    as matches (keys, indexes, foreign keys) and its history rows, with the import's
    ids, into tables like `matches` and `rating_history`. Run after the import, whose
    players the rows name."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE storage_matches (LIKE matches INCLUDING ALL,"
            " FOREIGN KEY (player_a) REFERENCES players (id),"
            " FOREIGN KEY (player_b) REFERENCES players (id),"
            " FOREIGN KEY (ladder_id) REFERENCES ladders (id))"
        )
        conn.execute("CREATE TABLE storage_history (LIKE rating_history INCLUDING ALL)")
        players = dict(conn.execute("SELECT handle, id FROM players").fetchall())
        match_ids = time_ordered_ids(MATCHES)
        matches, history = [], []
        with path.open() as source:
            next(source)
            for seq, line in enumerate(source, 1):
                played, a, b, score = line.rstrip("\n").split(",")
                match_id = next(match_ids)
                matches.append(
                    f"{match_id}\t1\t{seq}\t{played}\t{players[a]}\t{players[b]}\t{score}\n"
                )
                for handle in (a, b):
                    history.append(
                        f"{players[handle]}\t{match_id}\t1\t{played}\t{seq}\t1500.0\t1510.0\n"
                    )
        started = time.perf_counter()
        for table, columns, lines in (
            (
                "storage_matches",
                "id, ladder_id, seq, played_at, player_a, player_b, score_a",
                matches,
            ),
            (
                "storage_history",
                "player_id, match_id, ladder_id, played_at, seq, rating_before, rating_after",
                history,
            ),
        ):
            with conn.cursor().copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for offset in range(0, len(lines), 10_000):
                    copy.write("".join(lines[offset : offset + 10_000]))
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
