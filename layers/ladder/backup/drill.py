"""The restore drill: restore the latest backup into a scratch database and prove it
(every table's checksum, and rating history consistent with the matches).

The result is a record (`drills/<timestamp>.json` in the bucket), a log line
and a metric (`RestoreDrillSucceeded` 1 or 0) that an alarm watches.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import psycopg
from psycopg import sql

from ladder.backup.integrity import inconsistent_history
from ladder.backup.manifest import list_backups
from ladder.backup.restore import restore_backup
from ladder.backup.store import Store
from ladder.backup.verify import checksums_match
from ladder.credentials import database_conninfo
from ladder.observability import MetricUnit, logger, metrics


def run_drill(database_url: str, store: Store) -> dict:
    started = time.monotonic()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    scratch = f"ladder_drill_{stamp.lower()}"
    record: dict = {"drill_at": stamp, "scratch_database": scratch}
    try:
        latest = next((b for b in list_backups(store) if not b["anonymized"]), None)
        if latest is None:
            raise RuntimeError("no complete backup to drill")
        record["backup_id"] = latest["id"]
        with psycopg.connect(database_conninfo(database_url), autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(scratch)))
        try:
            target = psycopg.conninfo.make_conninfo(database_url, dbname=scratch)
            manifest = restore_backup(store, latest["id"], target, live_url=database_url)
            mismatched = checksums_match(target, manifest)
            record["tables"] = len(manifest.tables)
            record["mismatched_tables"] = mismatched
            record["inconsistent_history"] = inconsistent_history(target)
            record["ok"] = not mismatched and not record["inconsistent_history"]
        finally:
            with psycopg.connect(database_conninfo(database_url), autocommit=True) as conn:
                conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                        sql.Identifier(scratch)
                    )
                )
    except Exception as exc:  # a failed drill is a result to record, not a crash
        record["ok"] = False
        record["error"] = f"{type(exc).__name__}: {exc}"
    record["seconds"] = round(time.monotonic() - started, 3)
    store.put_json(f"drills/{stamp}.json", record)
    metrics.add_metric(
        name="RestoreDrillSucceeded", unit=MetricUnit.Count, value=1 if record["ok"] else 0
    )
    (logger.info if record["ok"] else logger.error)("restore drill", **record)
    return record
