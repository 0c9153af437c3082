"""What a backup is in the store, and finding them.

Layout: `backups/<UTC timestamp>/<table>.copy.gz` (COPY text, gzip) and
`manifest.json`, written last: a backup without a manifest does not exist.
A verification, when one ran, is `verification.json` beside it.
"""

from __future__ import annotations

import gzip
from collections.abc import Callable
from datetime import UTC, datetime

from pydantic import BaseModel

from ladder.aws import aws_errors_are_unavailable
from ladder.backup.store import Store
from ladder.errors import NotFound

PREFIX = "backups/"
FORMAT = "copy-text+gzip"

# Progress: a fraction done and what is being worked on.
Report = Callable[[float, str], None]


def quiet(_: float, __: str) -> None:
    pass


class TableEntry(BaseModel):
    name: str
    key: str
    rows: int
    bytes: int
    sha256: str  # of the stored (compressed) object
    # Order-independent digest of the table at the snapshot (None for an
    # anonymized export, whose rows differ from the source's by design).
    checksum: str | None
    seconds: float


class BackupManifest(BaseModel):
    id: str
    format: str = FORMAT
    schema_version: int
    started_at: datetime
    finished_at: datetime
    tables: list[TableEntry]
    encrypted_with: str | None = None
    anonymized: bool = False

    @property
    def total_seconds(self) -> float:
        return (self.finished_at - self.started_at).total_seconds()


def new_backup_id(now: datetime | None = None) -> str:
    return (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%S%fZ")


def load_manifest(store: Store, backup_id: str) -> BackupManifest:
    key = f"{PREFIX}{backup_id}/manifest.json"
    if not store.exists(key):
        raise NotFound(f"no complete backup {backup_id!r} (no manifest)")
    return BackupManifest.model_validate(store.get_json(key))


@aws_errors_are_unavailable
def list_backups(store: Store) -> list[dict]:
    """Complete backups, newest first, with their last verification if any."""
    found = []
    for prefix in sorted(store.prefixes(PREFIX), reverse=True):
        backup_id = prefix[len(PREFIX) :].rstrip("/")
        if not store.exists(f"{prefix}manifest.json"):
            continue  # interrupted or in progress: it does not exist
        manifest = load_manifest(store, backup_id)
        verified_key = f"{prefix}verification.json"
        found.append(
            {
                "id": backup_id,
                "state": "complete",
                "schema_version": manifest.schema_version,
                "started_at": manifest.started_at,
                "seconds": manifest.total_seconds,
                "tables": len(manifest.tables),
                "rows": sum(t.rows for t in manifest.tables),
                "bytes": sum(t.bytes for t in manifest.tables),
                "anonymized": manifest.anonymized,
                "last_verification": store.get_json(verified_key)
                if store.exists(verified_key)
                else None,
            }
        )
    return found


def latest_backup_age(store: Store, now: datetime | None = None) -> float | None:
    """Seconds since the newest complete backup (not an anonymized export) started;
    None if there is none. One LIST and a read or two: cheap enough for every minute."""
    now = now or datetime.now(UTC)
    for prefix in sorted(store.prefixes(PREFIX), reverse=True):
        if store.exists(f"{prefix}manifest.json"):
            manifest = load_manifest(store, prefix[len(PREFIX) :].rstrip("/"))
            if not manifest.anonymized:
                return (now - manifest.started_at).total_seconds()
    return None


def gunzip_chunks(spool):
    """A stored table's COPY text, in blocks of at most 1 MiB."""
    with gzip.GzipFile(fileobj=spool) as unzipped:
        yield from iter(lambda: unzipped.read(1024 * 1024), b"")
