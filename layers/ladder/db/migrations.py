"""Versioned SQL migrations: `migrations/NNNN_name.sql`, applied in order.

Safe to run twice (applied versions are recorded) and from two processes at
once (a session advisory lock serializes runners; this is deploy-time work on
its own connection, so pinning an RDS Proxy connection for it is harmless).
An applied migration whose file later changed is an error, not a silent skip
(unless `REWRITTEN` records why its old text is equivalent). After every run,
the application and relay roles get their grants on whatever now exists
(`ladder.db.roles`).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib import resources

import psycopg
from psycopg.rows import tuple_row

from ladder.credentials import database_conninfo
from ladder.db.errors import MigrationError
from ladder.db.roles import grant_privileges
from ladder.observability import logger

# An arbitrary constant that names "ladder migrations" among advisory locks.
MIGRATION_LOCK_KEY = 0x6C6164646572  # "ladder"
_FILE_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")

# Migrations rewritten after release, with the checksums of the texts they
# replace. Each rewrite must leave every database that applied the old text
# as the new text would have: say why next to it.
REWRITTEN: dict[int, frozenset[str]] = {
    # 0005 created the relay's role only where `rds_iam` exists, and nothing
    # with `rds_iam` (RDS) ever ran it; roles now come from the bootstrap.
    5: frozenset({"69d7e740d65bbb33d82e37cada15862d0fc3a71174b23e785f861799bafbac98"}),
}


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def available_migrations() -> list[Migration]:
    """The migrations shipped with this code, in version order."""
    found = []
    for entry in resources.files("ladder.db").joinpath("migrations").iterdir():
        match = _FILE_NAME.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text()))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if versions != list(range(1, len(found) + 1)):
        raise MigrationError(f"migration versions must be 1..n without gaps, got {versions}")
    return found


def latest_version() -> int:
    return len(available_migrations())


def migrate(url: str, *, target: int | None = None) -> list[int]:
    """Apply pending migrations up to `target` (default: all); return the versions applied."""
    migrations = [m for m in available_migrations() if target is None or m.version <= target]
    applied_now = []
    with psycopg.connect(database_conninfo(url), autocommit=True, prepare_threshold=None) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK_KEY,))
        try:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            )
            applied = dict(conn.execute("SELECT version, checksum FROM schema_migrations"))
            for migration in migrations:
                if migration.version in applied:
                    if applied[migration.version] in REWRITTEN.get(migration.version, ()):
                        conn.execute(
                            "UPDATE schema_migrations SET checksum = %s WHERE version = %s",
                            (migration.checksum, migration.version),
                        )
                    elif applied[migration.version] != migration.checksum:
                        raise MigrationError(
                            f"migration {migration.version:04d}_{migration.name} was changed "
                            "after it was applied; add a new migration instead"
                        )
                    continue
                with conn.transaction():
                    conn.execute(migration.sql)
                    conn.execute(
                        "INSERT INTO schema_migrations (version, name, checksum)"
                        " VALUES (%s, %s, %s)",
                        (migration.version, migration.name, migration.checksum),
                    )
                logger.info(
                    "applied migration", version=migration.version, migration=migration.name
                )
                applied_now.append(migration.version)
            grant_privileges(conn)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK_KEY,))
    return applied_now


def current_version(conn: psycopg.Connection) -> int:
    """The highest applied migration version (0 for an empty database)."""
    cur = conn.cursor(row_factory=tuple_row)
    (exists,) = cur.execute("SELECT to_regclass('schema_migrations') IS NOT NULL").fetchone()
    if not exists:
        return 0
    (version,) = cur.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()
    return version
