"""Checking a backup: its objects against the manifest, or a database against its checksums."""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg

from ladder.backup.catalog import table_checksums
from ladder.backup.manifest import (
    PREFIX,
    BackupManifest,
    Report,
    gunzip_chunks,
    load_manifest,
    quiet,
)
from ladder.backup.store import Store
from ladder.credentials import database_conninfo


def verify_backup(store: Store, backup_id: str, report: Report = quiet) -> dict:
    """Re-read every object: hash and row count must match the manifest."""
    manifest = load_manifest(store, backup_id)
    problems = []
    for index, entry in enumerate(manifest.tables):
        report(index / len(manifest.tables), entry.name)
        try:
            with store.download_verified(entry.key, entry.sha256) as spool:
                rows = sum(chunk.count(b"\n") for chunk in gunzip_chunks(spool))
            if rows != entry.rows:
                problems.append(f"{entry.key}: {rows} rows, manifest says {entry.rows}")
        except Exception as exc:  # each object's failure is reported by name
            problems.append(str(exc))
    result = {
        "verified_at": datetime.now(UTC).isoformat(),
        "ok": not problems,
        "problems": problems,
    }
    store.put_json(f"{PREFIX}{backup_id}/verification.json", result)
    report(1.0, "ok" if not problems else "FAILED")
    return result


def checksums_match(database_url: str, manifest: BackupManifest) -> list[str]:
    """Tables whose checksum in `database_url` differs from the manifest's."""
    with psycopg.connect(database_conninfo(database_url), autocommit=True) as conn:
        actual = table_checksums(conn, [t.name for t in manifest.tables])
    return [t.name for t in manifest.tables if actual[t.name] != t.checksum]
