"""`ladder anonymize export`: a backup in the usual format with the policy applied.

Rows are rewritten as they stream (COPY text in, COPY text out), so memory
stays bounded; the result restores with `ladder backup restore`. Afterwards
every object is scanned for every original personal value: an export that
still contains one is deleted and reported, never left for staging.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable

import psycopg
from psycopg.rows import tuple_row

from ladder.anonymize.policy import FAKE, HASH, KEEP, NULL, PERSONAL_COLUMNS, POLICY, SCRUB_JSON
from ladder.backup.dump import create_backup
from ladder.backup.manifest import PREFIX, BackupManifest, gunzip_chunks
from ladder.backup.store import Store
from ladder.credentials import database_conninfo

_UNESCAPE = {
    "\\\\": "\\",
    "\\t": "\t",
    "\\n": "\n",
    "\\r": "\r",
    "\\b": "\b",
    "\\f": "\f",
    "\\v": "\v",
}
PERSONAL_JSON_KEYS = {"handle", "display_name", "email"}


class Anonymizer:
    def __init__(self, salt: str) -> None:
        if not salt:
            raise ValueError("set LADDER_ANONYMIZE_SALT: anonymized hashes need a secret salt")
        self.key = salt.encode()

    def digest(self, value: str) -> str:
        return hmac.new(self.key, value.encode(), hashlib.sha256).hexdigest()

    def fake(self, column: str, value: str) -> str:
        h = self.digest(f"{column}:{value}")
        if column == "handle":
            return f"p_{h[:30]}"  # matches ^[a-z0-9_]{3,32}$ and stays unique
        if column == "email":
            return f"{h[:20]}@example.invalid"
        return f"Player {h[:10]}"

    def scrub(self, node):
        if isinstance(node, dict):
            return {
                k: self.fake(k, v)
                if k in PERSONAL_JSON_KEYS and isinstance(v, str)
                else self.scrub(v)
                for k, v in node.items()
            }
        if isinstance(node, list):
            return [self.scrub(v) for v in node]
        return node

    def column(self, name: str, rule: str) -> Callable[[str | None], str | None]:
        if rule == KEEP:
            return lambda v: v
        if rule == NULL:
            return lambda v: None
        if rule == HASH:
            return lambda v: None if v is None else self.digest(v)
        if rule == FAKE:
            return lambda v: None if v is None else self.fake(name, v)
        if rule == SCRUB_JSON:
            return lambda v: None if v is None else json.dumps(self.scrub(json.loads(v)))
        raise ValueError(f"unknown anonymization class {rule!r}")


def _unescape(field: bytes) -> str | None:
    if field == b"\\N":
        return None
    text = field.decode()
    if "\\" not in text:
        return text
    out, i = [], 0
    while i < len(text):
        pair = text[i : i + 2]
        if pair in _UNESCAPE:
            out.append(_UNESCAPE[pair])
            i += 2
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def _escape(value: str | None) -> bytes:
    if value is None:
        return b"\\N"
    return (
        value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    ).encode()


def _columns(conn: psycopg.Connection) -> dict[str, list[str]]:
    rows = (
        conn.cursor(row_factory=tuple_row)
        .execute(
            "SELECT c.relname, array_agg(a.attname ORDER BY a.attnum) FROM pg_class c"
            " JOIN pg_namespace n ON n.oid = c.relnamespace"
            " JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped"
            " WHERE n.nspname = 'public' AND c.relkind = 'r' GROUP BY c.relname"
        )
        .fetchall()
    )
    return dict(rows)


def unclassified_columns(conn: psycopg.Connection, table_names: list[str]) -> list[str]:
    """`table.column` for every backed-up column the policy does not classify."""
    columns = _columns(conn)
    return [
        f"{table}.{column}"
        for table in table_names
        for column in columns[table]
        if column not in POLICY.get(table, {})
    ]


def export_anonymized(database_url: str, store: Store, salt: str, report=None) -> BackupManifest:
    from ladder.backup.catalog import tables

    anonymizer = Anonymizer(salt)
    with psycopg.connect(database_conninfo(database_url)) as conn:
        names = [t.name for t in tables(conn)]
        missing = unclassified_columns(conn, names)
        if missing:
            raise RuntimeError(f"no anonymization class for {', '.join(missing)}")
        columns = _columns(conn)
        originals = {
            value
            for table, column in PERSONAL_COLUMNS
            for (value,) in conn.cursor(row_factory=tuple_row).execute(
                f'SELECT "{column}" FROM "{table}" WHERE "{column}" IS NOT NULL'
            )
        }

    def transform(table: str) -> Callable[[bytes], bytes]:
        rules = [anonymizer.column(c, POLICY[table][c]) for c in columns[table]]
        if all(POLICY[table][c] == KEEP for c in columns[table]):
            return lambda data: data

        def rewrite(data: bytes) -> bytes:
            out = []
            for line in data.split(b"\n")[:-1]:
                fields = line.split(b"\t")
                out.append(
                    b"\t".join(
                        _escape(rule(_unescape(f))) for rule, f in zip(rules, fields, strict=True)
                    )
                )
            return b"".join(row + b"\n" for row in out)

        return rewrite

    kwargs = {"report": report} if report else {}
    manifest = create_backup(database_url, store, transform=transform, **kwargs)
    leaks = find_values(store, manifest, originals)
    if leaks:
        store.delete_prefix(f"{PREFIX}{manifest.id}/")
        raise RuntimeError(f"anonymized export still contained personal data in {leaks}")
    return manifest


def find_values(store: Store, manifest: BackupManifest, values: set[str]) -> list[str]:
    """Objects of a backup in which any field, or any string inside a JSON field, is one
    of `values` (whole values only: a short handle may well occur inside a uuid)."""
    found = []
    for entry in manifest.tables:
        with store.download_verified(entry.key, entry.sha256) as spool:
            if any(_line_has(line, values) for line in _lines(gunzip_chunks(spool))):
                found.append(entry.key)
    return found


def _lines(chunks):
    tail = b""
    for chunk in chunks:
        lines = (tail + chunk).split(b"\n")
        tail = lines.pop()
        yield from lines


def _line_has(line: bytes, values: set[str]) -> bool:
    for field in line.split(b"\t"):
        value = _unescape(field)
        if value is None:
            continue
        if value in values:
            return True
        if value[:1] in ("{", "["):
            try:
                if _json_strings(json.loads(value)) & values:
                    return True
            except ValueError:
                pass
    return False


def _json_strings(node) -> set[str]:
    if isinstance(node, str):
        return {node}
    if isinstance(node, dict):
        return set().union(*(_json_strings(v) for v in node.values())) if node else set()
    if isinstance(node, list):
        return set().union(*(_json_strings(v) for v in node)) if node else set()
    return set()
