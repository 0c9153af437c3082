"""Backup and restore of a ~1 GB database against pg_dump -Fc / pg_restore, same run.

Ours streams to S3 (a moto server in its own process, on loopback); the
baseline writes a custom-format dump to local disk and restores it. Peak
memory: ours from the process's VmHWM around each operation, the baseline's
from the children's max RSS.
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from pathlib import Path

import psycopg

from ladder_dev.bench import Result, generate_ladder_sql

MATCHES = 3_000_000
PLAYERS = 20_000

# Players and matches, then two history rows per match, as recording writes them.
GENERATE = (
    generate_ladder_sql(PLAYERS, MATCHES)
    + """
INSERT INTO rating_history (player_id, match_id, played_at, seq, rating_before, rating_after)
SELECT p, id, played_at, seq, 1500 + random() * 400, 1500 + random() * 400
FROM matches CROSS JOIN LATERAL (VALUES (player_a), (player_b)) AS side(p);
ANALYZE;
"""
)


def _pg_tool(name: str) -> str:
    for candidate in sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True):
        return str(candidate)
    found = shutil.which(name)
    if not found:
        raise RuntimeError(f"{name} not found")
    return found


def _hwm_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def _reset_hwm() -> None:
    Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS


def bench_backup() -> list[Result]:
    from ladder.backup.dump import create_backup
    from ladder.backup.restore import restore_backup
    from ladder.backup.store import Store
    from ladder.db.migrations import migrate
    from ladder.settings import Settings
    from ladder_dev.dev import FAKE_AWS_CREDENTIALS
    from ladder_dev.local_services import any_postgres, free_port, scratch_database

    with ExitStack() as stack:
        server = stack.enter_context(any_postgres())
        source = stack.enter_context(scratch_database(server, "bench_backup"))
        migrate(source)
        with psycopg.connect(source, autocommit=True) as conn:
            started = time.perf_counter()
            conn.execute(GENERATE)
            (size,) = conn.execute("SELECT pg_database_size(current_database())").fetchone()
        print(
            f"  backup: generated {size / 2**30:.2f} GiB in {time.perf_counter() - started:.0f} s",
            flush=True,
        )

        port = free_port()
        moto = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        stack.callback(moto.terminate)
        time.sleep(2)
        os.environ.update(FAKE_AWS_CREDENTIALS)
        settings = Settings(
            DATABASE_URL=source,
            AWS_ENDPOINT_URL=f"http://127.0.0.1:{port}",
            backup_bucket=f"bench-{uuid.uuid4().hex[:8]}",
        )
        store = Store(settings)
        store.client.create_bucket(Bucket=settings.backup_bucket)

        _reset_hwm()
        base_rss = _hwm_kib()
        started = time.perf_counter()
        manifest = create_backup(source, store)
        ours_backup = time.perf_counter() - started
        ours_backup_mem = (_hwm_kib() - base_rss) / 1024

        target = stack.enter_context(scratch_database(server, "bench_restore"))
        _reset_hwm()
        started = time.perf_counter()
        restore_backup(store, manifest.id, target)
        ours_restore = time.perf_counter() - started
        ours_restore_mem = (_hwm_kib() - base_rss) / 1024

        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        dump = workdir / "bench.dump"
        started = time.perf_counter()
        subprocess.run([_pg_tool("pg_dump"), "-Fc", "-f", str(dump), "-d", source], check=True)
        pg_backup = time.perf_counter() - started
        baseline = stack.enter_context(scratch_database(server, "bench_pg_restore"))
        started = time.perf_counter()
        subprocess.run([_pg_tool("pg_restore"), "-d", baseline, str(dump)], check=True)
        pg_restore = time.perf_counter() - started
        pg_mem = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        dump_mib = dump.stat().st_size / 2**20

    label = f"{size / 2**30:.2f} GiB database"
    print(
        f"  backup: stored {sum(t.bytes for t in manifest.tables) / 2**20:.0f} MiB in S3,"
        f" pg_dump file {dump_mib:.0f} MiB;"
        f" peak memory ours {ours_backup_mem:.0f} / {ours_restore_mem:.0f} MiB"
        f" (backup / restore growth), pg tools max RSS {pg_mem:.0f} MiB",
        flush=True,
    )
    return [
        Result(
            f"backup to S3 ({label})",
            ours_backup,
            "s",
            "pg_dump -Fc to local disk",
            pg_backup,
            ours_backup / pg_backup,
            1.2,
        ),
        Result(
            f"restore from S3 ({label})",
            ours_restore,
            "s",
            "pg_restore from local disk",
            pg_restore,
            ours_restore / pg_restore,
            1.2,
        ),
        Result(
            f"backup peak memory growth ({label})",
            ours_backup_mem,
            "MiB",
            "pg_dump/pg_restore max RSS",
            pg_mem,
            ours_backup_mem / pg_mem,
            1.0,
        ),
    ]
