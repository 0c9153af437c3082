"""What to back up, read from the catalog (never a list in code).

Every permanent table of the schema, in foreign-key order so a restore can
load them one after the other, each read in primary-key order so its
checksum is reproducible. Unlogged tables hold rebuildable scratch data
(the recalculation's staging) and are skipped, as is `schema_migrations`,
which a restore rebuilds by migrating to the backup's schema version. Tables
commented `ladder:seeded` hold rows that migrations write.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import psycopg
from psycopg import sql
from psycopg.rows import tuple_row


@dataclass(frozen=True)
class Table:
    name: str
    order_by: tuple[str, ...]
    seeded: bool = False

    def copy_out(self) -> sql.Composed:
        order = sql.SQL(", ").join(sql.Identifier(c) for c in self.order_by)
        return sql.SQL("COPY (SELECT * FROM {} ORDER BY {}) TO STDOUT").format(
            sql.Identifier(self.name), order
        )

    def copy_in(self) -> sql.Composed:
        return sql.SQL("COPY {} FROM STDIN").format(sql.Identifier(self.name))


def tables(conn: psycopg.Connection, schema: str = "public") -> list[Table]:
    cur = conn.cursor(row_factory=tuple_row)
    rows = cur.execute(
        """
        SELECT c.relname,
               coalesce((SELECT array_agg(a.attname ORDER BY k.ord)
                         FROM pg_index i
                         CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
                         JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum
                         WHERE i.indrelid = c.oid AND i.indisprimary), '{}') AS pk,
               coalesce((SELECT array_agg(DISTINCT r.relname)
                         FROM pg_constraint f JOIN pg_class r ON r.oid = f.confrelid
                         WHERE f.conrelid = c.oid AND f.contype = 'f' AND r.oid <> c.oid),
                        '{}') AS refs,
               coalesce(obj_description(c.oid, 'pg_class') = 'ladder:seeded', false) AS seeded
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = %s AND c.relkind = 'r' AND c.relpersistence = 'p'
          AND c.relname <> 'schema_migrations'
        ORDER BY c.relname
        """,
        (schema,),
    ).fetchall()
    found = {name: (tuple(pk), set(refs)) for name, pk, refs, _ in rows}
    seeded = {name for name, _, _, is_seeded in rows if is_seeded}
    ordered: list[Table] = []
    done: set[str] = set()
    while len(done) < len(found):  # topological order: referenced tables first
        ready = [n for n, (_, refs) in found.items() if n not in done and refs <= done]
        if not ready:
            raise RuntimeError(f"foreign-key cycle among {sorted(set(found) - done)}")
        for name in ready:
            pk = found[name][0]
            if not pk:
                raise RuntimeError(f"table {name} has no primary key; backups need one")
            ordered.append(Table(name, pk, seeded=name in seeded))
            done.add(name)
    return ordered


def table_checksums(conn: psycopg.Connection, names: list[str]) -> dict[str, str]:
    """SHA-256 of each table's COPY text in primary-key order (what a backup records)."""
    by_name = {t.name: t for t in tables(conn)}
    sums = {}
    for name in names:
        digest = hashlib.sha256()
        with conn.cursor() as cur, cur.copy(by_name[name].copy_out()) as copy:
            for chunk in copy:
                digest.update(chunk)
        sums[name] = digest.hexdigest()
    return sums
