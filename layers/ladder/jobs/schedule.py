"""Scheduling jobs: a `jobs` row in the caller's transaction, then a queue message.

The row is the job's durable record (like the event outbox): it commits with
the change that caused it, and the message is sent after the commit. If the
send fails, the row stays undispatched and the sweeper sends it later; the
worker is idempotent by job id, so a duplicate send is harmless.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import psycopg
from psycopg.types.json import Jsonb
from pydantic import BaseModel

from ladder.observability import logger
from ladder.settings import Settings

RECALCULATE = "elo.recalculate"
INVALIDATE_CACHE = "cache.invalidate"
BACKUP = "backup.create"


class Envelope(BaseModel):
    """What a queue message carries."""

    type: str
    id: UUID
    payload: dict[str, Any] = {}


def schedule_job(conn: psycopg.Connection, job_type: str, payload: dict[str, Any]) -> UUID:
    """Record a queued job in the caller's transaction; dispatch it after commit."""
    job_id = uuid.uuid4()
    conn.execute(
        "INSERT INTO jobs (id, type, payload) VALUES (%s, %s, %s)",
        (job_id, job_type, Jsonb(payload)),
    )
    return job_id


def schedule_recalculation(
    conn: psycopg.Connection, *, from_played_at: datetime | None, from_seq: int | None
) -> UUID:
    """Schedule a recalculation from a point in rating order (None: full).

    A recalculation still waiting in the queue absorbs the request (its start
    moves back to the earlier point), so a burst of late matches costs one run.
    """
    point = (
        None
        if from_played_at is None
        else {"played_at": from_played_at.astimezone(UTC).isoformat(), "seq": from_seq}
    )
    waiting = conn.execute(
        "SELECT id, payload FROM jobs WHERE type = %s AND status = 'queued'"
        " ORDER BY created_at LIMIT 1 FOR UPDATE SKIP LOCKED",
        (RECALCULATE,),
    ).fetchone()
    if waiting is not None:
        merged = _earlier(waiting["payload"].get("from"), point)
        conn.execute(
            "UPDATE jobs SET payload = %s WHERE id = %s",
            (Jsonb({**waiting["payload"], "from": merged}), waiting["id"]),
        )
        return waiting["id"]
    return schedule_job(conn, RECALCULATE, {"from": point})


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


def sqs_client(settings: Settings):
    import boto3  # lazily: only the paths that dispatch pay for it

    return boto3.client(
        "sqs", endpoint_url=settings.aws_endpoint_url, region_name=settings.aws_region
    )


def dispatch(db, settings: Settings, job_ids: list[UUID]) -> int:
    """Send committed jobs to the queue and mark them dispatched; return how many."""
    if not job_ids or not settings.jobs_queue_url:
        return 0
    rows = db.run(
        lambda conn: conn.execute(
            "SELECT id, type, payload FROM jobs WHERE id = ANY(%s) AND dispatched_at IS NULL",
            (job_ids,),
        ).fetchall()
    )
    sent = []
    try:
        client = sqs_client(settings)
        for row in rows:
            body = Envelope(type=row["type"], id=row["id"], payload=row["payload"])
            client.send_message(
                QueueUrl=settings.jobs_queue_url, MessageBody=body.model_dump_json()
            )
            sent.append(row["id"])
    except Exception as exc:  # the sweeper re-sends what is left; the write stands
        logger.warning("job dispatch failed; the sweeper will retry", error=str(exc))
    if sent:
        db.run(
            lambda conn: conn.execute(
                "UPDATE jobs SET dispatched_at = now() WHERE id = ANY(%s)", (sent,)
            )
        )
    return len(sent)


def dispatch_pending(db, settings: Settings, older_than_seconds: float = 30) -> int:
    """Re-send jobs committed but never dispatched (the sweeper's backstop)."""
    rows = db.run(
        lambda conn: conn.execute(
            "SELECT id FROM jobs WHERE dispatched_at IS NULL AND status = 'queued'"
            " AND created_at < now() - make_interval(secs => %s) ORDER BY created_at LIMIT 500",
            (older_than_seconds,),
        ).fetchall()
    )
    return dispatch(db, settings, [row["id"] for row in rows])


# A job still `running` this long after it started has lost its worker: the worker's
# Lambda stops at 15 minutes (a timeout or a crash leaves no trace but the row).
ABANDONED_AFTER_SECONDS = 16 * 60


def fail_abandoned(db) -> int:
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
