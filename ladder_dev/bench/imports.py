"""Import: 1,000,000 matches among 10,000 players from CSV, end to end (validate,
load, rate), into a fresh ladder.

Baseline, same run and database: the floor of COPY-ing the same file into a
bare table and its 2,000,000 history rows into a table like `rating_history`
(with its indexes, as the recalculation benchmark's floor).
"""

from __future__ import annotations

import os
import random
import tempfile
import time
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

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
        history = []  # the 2M rows the import writes (values aside), prepared untimed
        with path.open() as source:
            next(source)
            for seq, line in enumerate(source, 1):
                played = line.split(",", 1)[0]
                match_id = f"00000000-0000-4000-8000-{seq:012d}"
                for side in (0, 1):
                    player = f"00000000-0000-4000-9000-{(seq + side) % PLAYERS:012d}"
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
        print(
            f"  import: validated and stored in {loaded_at - started:.1f} s,"
            f" rated in {ours - (loaded_at - started):.1f} s; floor {floor:.1f} s",
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
        )
    ]
