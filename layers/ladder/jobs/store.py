"""The `jobs` and `job_locks` tables: every statement the job machinery runs.

A job's row is its durable record (like the event outbox): it is written in
the transaction of the change that caused it, and the queue message is sent
after the commit (`ladder.jobs.dispatch`). The worker claims a job by id, so
a duplicate delivery of a succeeded job is a no-op.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import psycopg
from psycopg.types.json import Jsonb

from ladder.db import Database
from ladder.jobs.envelope import BACKUP, RECALCULATE, Envelope
from ladder.jobs.errors import LeaseLost, RecalculationBusy
from ladder.observability import logger

# A job still `running` this long after it started has lost its worker: the worker's
# Lambda stops at 15 minutes (a timeout or a crash leaves no trace but the row).
ABANDONED_AFTER_SECONDS = 16 * 60

# How long the recalculation lease holds without its job finishing: past the worker's
# 15-minute timeout, so a live run never loses it; a crashed run's lease lapses by then.
LEASE_SECONDS = 16 * 60


# Scheduling, in the caller's transaction.


def schedule_job(conn: psycopg.Connection, job_type: str, payload: dict[str, Any]) -> UUID:
    """Record a queued job in the caller's transaction; dispatch it after commit."""
    job_id = uuid.uuid4()
    conn.execute(
        "INSERT INTO jobs (id, type, payload) VALUES (%s, %s, %s)",
        (job_id, job_type, Jsonb(payload)),
    )
    return job_id


def schedule_recalculation(
    conn: psycopg.Connection,
    *,
    ladder_id: int,
    from_played_at: datetime | None,
    from_seq: int | None,
) -> UUID:
    """Schedule a recalculation of one ladder from a point in rating order (None: full).

    A recalculation of that ladder still waiting in the queue absorbs the request
    (its start moves back to the earlier point), so a burst of late matches costs
    one run. Payloads from before ladders name none: they mean the default (id 1).
    """
    point = (
        None
        if from_played_at is None
        else {"played_at": from_played_at.astimezone(UTC).isoformat(), "seq": from_seq}
    )
    waiting = conn.execute(
        "SELECT id, payload FROM jobs WHERE type = %s AND status = 'queued'"
        " AND coalesce((payload->>'ladder')::integer, 1) = %s"
        " ORDER BY created_at LIMIT 1 FOR UPDATE SKIP LOCKED",
        (RECALCULATE, ladder_id),
    ).fetchone()
    if waiting is not None:
        merged = _earlier(waiting["payload"].get("from"), point)
        conn.execute(
            "UPDATE jobs SET payload = %s WHERE id = %s",
            (Jsonb({**waiting["payload"], "ladder": ladder_id, "from": merged}), waiting["id"]),
        )
        return waiting["id"]
    return schedule_job(conn, RECALCULATE, {"ladder": ladder_id, "from": point})


def schedule_backup(conn: psycopg.Connection) -> UUID:
    """A `backup.create` job, or the one already queued or running: one backup at a time
    (a partial unique index holds it, so concurrent requests cannot both insert)."""
    for _ in range(3):  # the active one may finish between the insert and the lookup
        inserted = conn.execute(
            "INSERT INTO jobs (id, type, payload) VALUES (%s, %s, '{}')"
            " ON CONFLICT (type) WHERE type = 'backup.create' AND status IN ('queued', 'running')"
            " DO NOTHING RETURNING id",
            (uuid.uuid4(), BACKUP),
        ).fetchone()
        active = (
            inserted
            or conn.execute(
                "SELECT id FROM jobs WHERE type = %s AND status IN ('queued', 'running')", (BACKUP,)
            ).fetchone()
        )
        if active:
            return active["id"]
    raise RuntimeError("could not schedule a backup")


def _earlier(a: dict | None, b: dict | None) -> dict | None:
    if a is None or b is None:
        return None  # a full recalculation covers everything
    key = lambda p: (datetime.fromisoformat(p["played_at"]), p["seq"])  # noqa: E731
    return a if key(a) <= key(b) else b


# A job's life on the worker.


def claim(db: Database, envelope: Envelope) -> dict | None:
    """Mark the job running (recording it first if the message came from elsewhere);
    None if it already succeeded (a duplicate delivery)."""

    def work(conn: psycopg.Connection):
        conn.execute(
            "INSERT INTO jobs (id, type, payload, dispatched_at) VALUES (%s, %s, %s, now())"
            " ON CONFLICT (id) DO NOTHING",
            (envelope.id, envelope.type, Jsonb(envelope.payload)),
        )
        return conn.execute(
            "UPDATE jobs SET status = 'running', attempts = attempts + 1, started_at = now(),"
            " heartbeat_at = now(), error = NULL WHERE id = %s AND status <> 'succeeded'"
            " RETURNING type, payload",
            (envelope.id,),
        ).fetchone()

    return db.run(work)


def record_progress(db: Database, job_id: UUID, fraction: float) -> None:
    db.run(
        lambda conn: conn.execute(
            "UPDATE jobs SET progress = %s, heartbeat_at = now() WHERE id = %s",
            (fraction, job_id),
        )
    )


def defer(db: Database, job_id: UUID, reason: str) -> None:
    """Back to `queued` and undispatched, so the sweeper sends it again; meanwhile new
    requests still merge into it."""
    db.run(
        lambda conn: conn.execute(
            "UPDATE jobs SET status = 'queued', dispatched_at = NULL, error = %s"
            " WHERE id = %s AND status = 'running'",
            (f"waiting: {reason}", job_id),
        )
    )


def mark_failed(db: Database, job_id: UUID, error: str) -> None:
    db.run(
        lambda conn: conn.execute(
            "UPDATE jobs SET status = 'failed', error = %s, finished_at = now()"
            " WHERE id = %s AND status <> 'succeeded'",
            (error[:2000], job_id),
        )
    )


def mark_succeeded(conn: psycopg.Connection, job_id: UUID, result: dict) -> None:
    """In the caller's transaction: a handler that completes its job itself does it in
    the transaction of its effects, so "applied" and "recorded" cannot disagree."""
    conn.execute(
        "UPDATE jobs SET status = 'succeeded', progress = 1, finished_at = now(), result = %s,"
        " error = NULL WHERE id = %s",
        (Jsonb(result), job_id),
    )


def record_success(db: Database, job_id: UUID, result: dict) -> None:
    """After the handler: succeeded, keeping a result the handler recorded itself."""
    db.run(
        lambda conn: conn.execute(
            "UPDATE jobs SET status = 'succeeded', progress = 1, finished_at = now(),"
            " result = coalesce(result, %s) WHERE id = %s",
            (Jsonb(result), job_id),
        )
    )


def job_status(db: Database, job_id: UUID) -> dict | None:
    return db.run(
        lambda conn: conn.execute(
            "SELECT id, type, status, payload, progress, attempts, result, error, created_at,"
            " started_at, finished_at FROM jobs WHERE id = %s",
            (job_id,),
        ).fetchone()
    )


def fail_abandoned(db: Database) -> int:
    """Mark jobs whose worker vanished as failed, so status and alarms say so; SQS still
    redelivers the message (the job runs again) or moves it to the DLQ."""
    rows = db.run(
        lambda conn: conn.execute(
            "UPDATE jobs SET status = 'failed', finished_at = now(), error = %s"
            " WHERE status = 'running' AND started_at < now() - make_interval(secs => %s)"
            " RETURNING id",
            (
                "abandoned: its worker stopped (timeout or crash) without finishing",
                ABANDONED_AFTER_SECONDS,
            ),
        ).fetchall()
    )
    for row in rows:
        logger.warning("job abandoned by its worker", job_id=str(row["id"]))
    return len(rows)


# Dispatch bookkeeping (the messages themselves: `ladder.jobs.dispatch`).


def undispatched(db: Database, job_ids: list[UUID]) -> list[dict]:
    return db.run(
        lambda conn: conn.execute(
            "SELECT id, type, payload FROM jobs WHERE id = ANY(%s) AND dispatched_at IS NULL",
            (job_ids,),
        ).fetchall()
    )


def mark_dispatched(db: Database, job_ids: list[UUID]) -> None:
    db.run(
        lambda conn: conn.execute(
            "UPDATE jobs SET dispatched_at = now() WHERE id = ANY(%s)", (job_ids,)
        )
    )


def pending_undispatched(db: Database, older_than_seconds: float) -> list[UUID]:
    """Jobs committed but never sent (a failed send, a deferral): the sweeper's."""
    rows = db.run(
        lambda conn: conn.execute(
            "SELECT id FROM jobs WHERE dispatched_at IS NULL AND status = 'queued'"
            " AND created_at < now() - make_interval(secs => %s) ORDER BY created_at LIMIT 500",
            (older_than_seconds,),
        ).fetchall()
    )
    return [row["id"] for row in rows]


def oldest_waiting_age(db: Database) -> float | None:
    """Seconds since the oldest dispatched, still-queued job was sent."""
    row = db.run(
        lambda conn: conn.execute(
            "SELECT extract(epoch FROM now() - min(dispatched_at)) AS age FROM jobs"
            " WHERE status = 'queued' AND dispatched_at IS NOT NULL"
        ).fetchone()
    )
    return None if row["age"] is None else float(row["age"])


# The recalculation's lease on its `job_locks` row: one recalculation at a time,
# without a transaction or session spanning the job.


def take_lease(db: Database, job_id: UUID) -> None:
    """Name `job_id` the running recalculation, or raise `RecalculationBusy`."""

    def work(conn: psycopg.Connection) -> None:
        taken = conn.execute(
            "UPDATE job_locks SET holder = %(job)s,"
            " lease_until = now() + make_interval(secs => %(secs)s)"
            " WHERE name = %(name)s"
            " AND (holder IS NULL OR holder = %(job)s OR lease_until < now())"
            " RETURNING holder",
            {"job": job_id, "secs": LEASE_SECONDS, "name": RECALCULATE},
        ).fetchone()
        if taken is None:
            held = conn.execute(
                "SELECT holder, lease_until FROM job_locks WHERE name = %s", (RECALCULATE,)
            ).fetchone()
            raise RecalculationBusy(
                f"recalculation {held['holder']} is running (lease until {held['lease_until']})"
            )

    db.run(work)


def end_lease(conn: psycopg.Connection, job_id: UUID) -> None:
    """In the applying transaction: still ours? Then it ends with this commit."""
    row = conn.execute(
        "SELECT holder FROM job_locks WHERE name = %s FOR UPDATE", (RECALCULATE,)
    ).fetchone()
    if row["holder"] != job_id:
        raise LeaseLost(f"job {job_id} lost the recalculation lease to {row['holder']}")
    conn.execute(
        "UPDATE job_locks SET holder = NULL, lease_until = NULL WHERE name = %s", (RECALCULATE,)
    )


def release_lease(db: Database, job_id: UUID) -> None:
    """After a failed run, so the next can start now rather than when the lease lapses."""
    try:
        db.run(
            lambda conn: conn.execute(
                "UPDATE job_locks SET holder = NULL, lease_until = NULL"
                " WHERE name = %s AND holder = %s",
                (RECALCULATE, job_id),
            )
        )
    except Exception:  # the failure being raised matters more; the lease lapses anyway
        logger.warning("could not release the recalculation lease", job_id=str(job_id))
