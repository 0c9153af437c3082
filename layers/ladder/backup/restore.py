"""Restoring a backup into an empty database (never the live one), as pg_restore would:
load bare tables, then build indexes and check constraints once."""

from __future__ import annotations

import psycopg
from psycopg import sql
from psycopg.rows import tuple_row

from ladder.backup.catalog import tables
from ladder.backup.manifest import BackupManifest, Report, gunzip_chunks, load_manifest, quiet
from ladder.backup.store import Store
from ladder.credentials import database_conninfo
from ladder.db.migrations import current_version, migrate
from ladder.errors import Conflict
from ladder.observability import logger


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
    report: Report = quiet,
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
                    for chunk in gunzip_chunks(spool):
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
        " AND NOT a.attisdropped"
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
