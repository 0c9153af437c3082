"""Creating a backup: every table from one snapshot, compressed and uploaded as it is read."""

from __future__ import annotations

import time
import zlib
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import psycopg
from psycopg import IsolationLevel
from psycopg.rows import tuple_row

from ladder.backup.catalog import checksum_query, tables, whole_lines
from ladder.backup.manifest import PREFIX, BackupManifest, Report, TableEntry, new_backup_id, quiet
from ladder.backup.store import Store
from ladder.credentials import database_conninfo
from ladder.db.migrations import current_version
from ladder.observability import logger

BLOCK = 1024 * 1024  # bytes of COPY text compressed and uploaded at once


def create_backup(
    database_url: str,
    store: Store,
    *,
    backup_id: str | None = None,
    transform: Callable[[str], Callable[[bytes], bytes]] | None = None,
    report: Report = quiet,
) -> BackupManifest:
    """Dump every table from one snapshot; `transform(table)` may rewrite its COPY text."""
    backup_id = backup_id or new_backup_id()
    started = datetime.now(UTC)
    entries = []
    with psycopg.connect(database_conninfo(database_url), autocommit=True) as conn:
        conn.isolation_level, conn.read_only = IsolationLevel.REPEATABLE_READ, True
        with conn.transaction():  # one snapshot for every table
            version = current_version(conn)
            found = tables(conn)
            for index, table in enumerate(found):
                report(index / len(found), table.name)
                rewrite = transform(table.name) if transform else None
                entries.append(_dump_table(conn, store, backup_id, table, rewrite))
    manifest = BackupManifest(
        id=backup_id,
        schema_version=version,
        started_at=started,
        finished_at=datetime.now(UTC),
        tables=entries,
        encrypted_with=store.kms_key_id,
        anonymized=transform is not None,
    )
    store.put_json(f"{PREFIX}{backup_id}/manifest.json", manifest.model_dump(mode="json"))
    report(1.0, "manifest written")
    logger.info("backup created", backup_id=backup_id, seconds=manifest.total_seconds)
    return manifest


def _dump_table(conn, store: Store, backup_id: str, table, rewrite) -> TableEntry:
    started = time.monotonic()
    key = f"{PREFIX}{backup_id}/{table.name}.copy.gz"
    writer = store.writer(key)
    rows, tail, block = 0, b"", bytearray()
    # Compression, hashing and upload run in one worker thread (zlib, hashlib
    # and sockets release the GIL), overlapping with reading here; at most a
    # few blocks wait, so memory stays bounded.
    compressor = zlib.compressobj(store.compression_level, zlib.DEFLATED, 31)  # gzip framing
    worker = ThreadPoolExecutor(1, thread_name_prefix="backup-upload")
    pending: deque = deque()

    def ship(data: bytes) -> None:
        pending.append(worker.submit(lambda: writer.write(compressor.compress(data))))
        while len(pending) > 4:
            pending.popleft().result()

    try:
        checksum = None
        if rewrite is None:
            (checksum,) = (
                conn.cursor(row_factory=tuple_row).execute(checksum_query(table.name)).fetchone()
            )
        with conn.cursor() as cur, cur.copy(table.copy_out()) as copy:
            for chunk in copy:  # libpq hands over one row at a time: keep this loop thin
                block += chunk
                if len(block) >= BLOCK:
                    data, tail = whole_lines(tail + bytes(block))
                    block.clear()
                    if rewrite is not None:
                        data = rewrite(data)
                    rows += data.count(b"\n")
                    ship(data)
        data = tail + bytes(block)
        if data and not data.endswith(b"\n"):
            raise RuntimeError(f"{table.name}: COPY ended inside a line")
        if rewrite is not None:
            data = rewrite(data)
        rows += data.count(b"\n")
        ship(data)
        while pending:
            pending.popleft().result()
        writer.write(compressor.flush())
        writer.close()
    except BaseException:
        for future in pending:
            future.cancel()
        worker.shutdown(wait=True)
        writer.abort()
        raise
    worker.shutdown()
    return TableEntry(
        name=table.name,
        key=key,
        rows=rows,
        bytes=writer.size,
        sha256=writer.sha256,
        checksum=checksum,
        seconds=round(time.monotonic() - started, 3),
    )
