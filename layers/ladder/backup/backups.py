"""Create, list, verify and restore logical backups.

Layout: `backups/<UTC timestamp>/<table>.copy.gz` (COPY text, gzip) and
`manifest.json`, written last: a backup without a manifest does not exist.
"""

from __future__ import annotations

import gzip
import time
import zlib
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import psycopg
from psycopg import IsolationLevel, sql
from psycopg.rows import tuple_row
from pydantic import BaseModel

from ladder.backup.catalog import checksum_query, table_checksums, tables, whole_lines
from ladder.backup.store import Store
from ladder.credentials import database_conninfo
from ladder.db.migrations import current_version, migrate
from ladder.errors import Conflict, NotFound
from ladder.observability import logger

PREFIX = "backups/"
FORMAT = "copy-text+gzip"
BLOCK = 1024 * 1024  # bytes of COPY text compressed and uploaded at once

Report = Callable[[float, str], None]


def _quiet(_: float, __: str) -> None:
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


def create_backup(
    database_url: str,
    store: Store,
    *,
    backup_id: str | None = None,
    transform: Callable[[str], Callable[[bytes], bytes]] | None = None,
    report: Report = _quiet,
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


def load_manifest(store: Store, backup_id: str) -> BackupManifest:
    key = f"{PREFIX}{backup_id}/manifest.json"
    if not store.exists(key):
        raise NotFound(f"no complete backup {backup_id!r} (no manifest)")
    return BackupManifest.model_validate(store.get_json(key))


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


def verify_backup(store: Store, backup_id: str, report: Report = _quiet) -> dict:
    """Re-read every object: hash and row count must match the manifest."""
    manifest = load_manifest(store, backup_id)
    problems = []
    for index, entry in enumerate(manifest.tables):
        report(index / len(manifest.tables), entry.name)
        try:
            with store.download_verified(entry.key, entry.sha256) as spool:
                rows = sum(chunk.count(b"\n") for chunk in _gunzip_chunks(spool))
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


def _gunzip_chunks(spool):
    with gzip.GzipFile(fileobj=spool) as unzipped:
        yield from iter(lambda: unzipped.read(1024 * 1024), b"")


def _identity(url: str) -> tuple[int, str] | None:
    """The server's system identifier and the database's name (None: unreachable)."""
    try:
        with psycopg.connect(database_conninfo(url), autocommit=True, connect_timeout=5) as conn:
            row = conn.cursor(row_factory=tuple_row).execute(
                "SELECT (SELECT system_identifier FROM pg_control_system()), current_database()"
            )
            return row.fetchone()
    except psycopg.OperationalError:
        return None


def restore_backup(
    store: Store,
    backup_id: str,
    target_url: str,
    *,
    force: bool = False,
    live_url: str | None = None,
    report: Report = _quiet,
) -> BackupManifest:
    """Restore into an empty database (or, with `force`, over one), never into `live_url`'s
    database, however the two URLs name it (same server and database: refused)."""
    manifest = load_manifest(store, backup_id)
    if live_url is not None:
        live = _identity(live_url)
        if live is not None and live == _identity(target_url):
            raise Conflict(
                f"the target is the live database ({live[1]} on this server): restore into "
                "another one, even with --force"
            )
    migrate(target_url, target=manifest.schema_version)
    names = [t.name for t in manifest.tables]
    with psycopg.connect(database_conninfo(target_url), autocommit=True) as conn:
        cur = conn.cursor(row_factory=tuple_row)
        version = current_version(conn)
        if version != manifest.schema_version:
            raise Conflict(
                f"target is at schema version {version}, backup at {manifest.schema_version}"
            )
        seeded = {t.name for t in tables(conn) if t.seeded}
        nonempty = [
            n
            for n in names
            if n not in seeded
            and cur.execute(
                sql.SQL("SELECT EXISTS (SELECT 1 FROM {})").format(sql.Identifier(n))
            ).fetchone()[0]
        ]
        if nonempty and not force:
            raise Conflict(f"target database is not empty ({', '.join(nonempty)}); use --force")
        with conn.transaction():
            if nonempty or seeded:
                conn.execute(
                    sql.SQL("TRUNCATE {} CASCADE").format(
                        sql.SQL(", ").join(sql.Identifier(n) for n in names)
                    )
                )
            # Like pg_restore: load into bare tables, then build indexes and
            # check constraints once, instead of row by row.
            rebuild = _drop_indexes_and_constraints(cur, names)
            for index, entry in enumerate(manifest.tables):
                report(index / len(manifest.tables) * 0.8, entry.name)
                with (
                    store.download_verified(entry.key, entry.sha256) as spool,
                    cur.copy(
                        sql.SQL("COPY {} FROM STDIN").format(sql.Identifier(entry.name))
                    ) as copy,
                ):
                    for chunk in _gunzip_chunks(spool):
                        copy.write(chunk)
            report(0.8, "indexes and constraints")
            for statement in rebuild:
                cur.execute(statement)
            _reset_sequences(cur, names)
    report(1.0, "restored")
    logger.info("backup restored", backup_id=backup_id)
    return manifest


def _drop_indexes_and_constraints(cur, names: list[str]) -> list[sql.Composable]:
    """Drop the tables' keys, foreign keys and indexes; return what recreates them, in order."""
    constraints = cur.execute(
        "SELECT c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid), c.contype"
        " FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid"
        " JOIN pg_namespace n ON n.oid = t.relnamespace"
        " WHERE n.nspname = 'public' AND t.relname = ANY(%s) AND c.contype IN ('p', 'u', 'f')"
        " ORDER BY c.contype = 'f' DESC",  # foreign keys go first, come back last
        (names,),
    ).fetchall()
    indexes = cur.execute(
        "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i"
        " JOIN pg_class t ON t.oid = i.indrelid JOIN pg_namespace n ON n.oid = t.relnamespace"
        " WHERE n.nspname = 'public' AND t.relname = ANY(%s)"
        " AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)",
        (names,),
    ).fetchall()
    for table, name, _, _ in constraints:
        cur.execute(
            sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(
                sql.SQL(table), sql.Identifier(name)
            )
        )
    for index, _ in indexes:
        cur.execute(sql.SQL("DROP INDEX {}").format(sql.SQL(index)))
    keys = [c for c in constraints if c[3] != "f"]
    foreign = [c for c in constraints if c[3] == "f"]
    return [
        *(sql.SQL(definition) for _, definition in indexes),
        *(
            sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} {}").format(
                sql.SQL(table), sql.Identifier(name), sql.SQL(definition)
            )
            for table, name, definition, _ in keys + foreign
        ),
    ]


def _reset_sequences(cur, names: list[str]) -> None:
    """Point every column-owned sequence (serials, identities, match_seq) past its data."""
    owned = cur.execute(
        "SELECT c.relname, a.attname, pg_get_serial_sequence(quote_ident(c.relname), a.attname)"
        " FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0"
        " WHERE c.relname = ANY(%s) AND c.relkind = 'r'"
        " AND pg_get_serial_sequence(quote_ident(c.relname), a.attname) IS NOT NULL",
        (names,),
    ).fetchall()
    for table, column, sequence in owned:
        cur.execute(
            sql.SQL("SELECT setval(%s, coalesce(max({}), 0) + 1, false) FROM {}").format(
                sql.Identifier(column), sql.Identifier(table)
            ),
            (sequence,),
        )


def checksums_match(database_url: str, manifest: BackupManifest) -> list[str]:
    """Tables whose checksum in `database_url` differs from the manifest's."""
    with psycopg.connect(database_conninfo(database_url), autocommit=True) as conn:
        actual = table_checksums(conn, [t.name for t in manifest.tables])
    return [t.name for t in manifest.tables if actual[t.name] != t.checksum]
