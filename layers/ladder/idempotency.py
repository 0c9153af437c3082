"""Idempotency records: a write's response stored in the write's own transaction.

Every write accepts an Idempotency-Key (`POST /v1/matches` requires one): a
client that lost a response to a timeout retries with the same key and gets
the response of the write that committed, instead of a 409 or a second write.

The record is inserted last, so it exists exactly when the write committed.
Two concurrent requests with one key race on the primary key, or fail on what
the other did (a taken handle, a voided match): either way the loser's whole
transaction rolls back and it answers with the winner's stored response. No
advisory locks, so nothing pins an RDS Proxy connection.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from ladder.db import Database
from ladder.errors import IdempotencyKeyReused, LadderError


@dataclass(frozen=True)
class IdempotentResult:
    status_code: int
    body: dict[str, Any]
    replayed: bool


def fingerprint(operation: str, request: dict[str, Any]) -> str:
    canonical = json.dumps([operation, request], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _stored(conn: psycopg.Connection, principal: str, key: str, request_hash: str):
    row = conn.execute(
        "SELECT request_hash, status_code, response FROM idempotency_records"
        " WHERE principal = %s AND key = %s",
        (principal, key),
    ).fetchone()
    if row is None:
        return None
    if row["request_hash"] != request_hash:
        raise IdempotencyKeyReused(
            "this Idempotency-Key was already used with a different request; use a new key"
        )
    return IdempotentResult(row["status_code"], row["response"], replayed=True)


def run_idempotent(
    db: Database,
    *,
    principal: str,
    key: str,
    operation: str,
    request: dict[str, Any],
    work: Callable[[psycopg.Connection], tuple[int, dict[str, Any]]],
) -> IdempotentResult:
    """Run `work` once per (principal, key); replay its response on repeats."""
    request_hash = fingerprint(operation, request)

    def attempt(conn: psycopg.Connection) -> IdempotentResult:
        stored = _stored(conn, principal, key, request_hash)
        if stored is not None:
            return stored
        status_code, body = work(conn)
        conn.execute(
            "INSERT INTO idempotency_records"
            " (principal, key, operation, request_hash, status_code, response)"
            " VALUES (%s, %s, %s, %s, %s, %s)",
            (principal, key, operation, request_hash, status_code, Jsonb(body)),
        )
        return IdempotentResult(status_code, body, replayed=False)

    try:
        return db.run(attempt)
    except psycopg.errors.UniqueViolation as exc:
        if exc.diag.constraint_name != "idempotency_records_pkey":
            raise
        # A concurrent request with the same key committed first.
        return db.run(lambda conn: _stored(conn, principal, key, request_hash))
    except LadderError:
        # A concurrent request with the same key may have committed first and caused
        # this (the handle it registered is taken, the match it voided is voided):
        # then its answer is this request's too.
        stored = db.run(lambda conn: _stored(conn, principal, key, request_hash))
        if stored is None:
            raise
        return stored


def run_write(
    db: Database,
    *,
    principal: str,
    key: str | None,
    operation: str,
    request: dict[str, Any],
    work: Callable[[psycopg.Connection], tuple[int, dict[str, Any]]],
) -> IdempotentResult:
    """`work` in one transaction: once per key when the client sent one, else plainly."""
    if key is None:
        status_code, body = db.run(work)
        return IdempotentResult(status_code, body, replayed=False)
    return run_idempotent(
        db, principal=principal, key=key, operation=operation, request=request, work=work
    )


def prune_idempotency_records(db: Database, older_than_hours: int) -> int:
    """Forget responses older than the retry window; returns how many."""
    return db.run(
        lambda conn: (
            conn.execute(
                "DELETE FROM idempotency_records"
                " WHERE created_at < now() - make_interval(hours => %s)",
                (older_than_hours,),
            ).rowcount
        )
    )
