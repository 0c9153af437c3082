"""What to back up, read from the catalog (never a list in code).

Every permanent table of the schema, in foreign-key order so a restore can
load them one after the other. Tables are read in physical order, as
pg_dump reads them (no sort), and checksummed in the server with an
order-independent digest (row count and the sum of each row's 64-bit hash),
so a restored copy checksums the same whatever its row order, and the dump
does no per-row work in Python.
Unlogged tables hold rebuildable scratch data (the recalculation's staging)
and are skipped, as is `schema_migrations`, which a restore rebuilds by
migrating to the backup's schema version. Tables commented `ladder:seeded`
hold rows that migrations write.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from psycopg import sql
from psycopg.rows import tuple_row


@dataclass(frozen=True)
class Table:
    name: str
    seeded: bool = False

    def copy_out(self) -> sql.Composed:
        return sql.SQL("COPY {} TO STDOUT").format(sql.Identifier(self.name))

    def copy_in(self) -> sql.Composed:
        return sql.SQL("COPY {} FROM STDIN").format(sql.Identifier(self.name))


def tables(conn: psycopg.Connection, schema: str = "public") -> list[Table]:
    cur = conn.cursor(row_factory=tuple_row)
    rows = cur.execute(
        """
        SELECT c.relname,
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
    found = {name: set(refs) for name, refs, _ in rows}
    seeded = {name for name, _, is_seeded in rows if is_seeded}
    ordered: list[Table] = []
    done: set[str] = set()
    while len(done) < len(found):  # topological order: referenced tables first
        ready = [n for n, refs in found.items() if n not in done and refs <= done]
        if not ready:
            raise RuntimeError(f"foreign-key cycle among {sorted(set(found) - done)}")
        for name in ready:
            ordered.append(Table(name, seeded=name in seeded))
            done.add(name)
    return ordered


def checksum_query(name: str) -> sql.Composed:
    return sql.SQL(
        "SELECT count(*)::text || ':' || coalesce(sum(hashtextextended(t::text, 0)), 0)::text"
        " FROM {} AS t"
    ).format(sql.Identifier(name))


def table_checksums(conn: psycopg.Connection, names: list[str]) -> dict[str, str]:
    """Each table's digest, as a backup records it."""
    cur = conn.cursor(row_factory=tuple_row)
    return {name: cur.execute(checksum_query(name)).fetchone()[0] for name in names}


def whole_lines(data: bytes) -> tuple[bytes, bytes]:
    """`data` cut after its last newline: (whole lines, the unfinished rest)."""
    cut = data.rfind(b"\n") + 1
    return data[:cut], data[cut:]
