"""Running a job: claim it by id (idempotency), dispatch to its handler, record the outcome.

Idempotency lives in Postgres, in the `jobs` row, rather than in Powertools'
Redis idempotency store: the recalculation marks its job succeeded in the
same transaction as the ratings it writes, so "applied" and "recorded as
applied" can never disagree, which a record in another store cannot promise.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from uuid import UUID

from psycopg.types.json import Jsonb

from ladder.jobs.errors import RecalculationBusy, UnknownJobType
from ladder.jobs.recalculate import Point, recalculate
from ladder.jobs.schedule import BACKUP, INVALIDATE_CACHE, RECALCULATE, Envelope
from ladder.leaderboard import invalidate_leaderboard
from ladder.observability import MetricUnit, logger, metrics
from ladder.resources import Resources


@dataclass(frozen=True)
class Job:
    id: UUID
    type: str
    payload: dict
    resources: Resources

    def progress(self, fraction: float) -> None:
        self.resources.db.run(
            lambda conn: conn.execute(
                "UPDATE jobs SET progress = %s, heartbeat_at = now() WHERE id = %s",
                (fraction, self.id),
            )
        )


def _recalculate(job: Job) -> dict:
    result = recalculate(
        job.resources.db,
        job.resources.rules,
        job_id=job.id,
        start=Point.from_payload(job.payload.get("from")),
        progress=job.progress,
    )
    invalidate_leaderboard(job.resources.cache)
    if result["seconds"] > 0:
        metrics.add_metric(
            name="RecalculatedMatchesPerSecond",
            unit=MetricUnit.CountPerSecond,
            value=result["matches"] / result["seconds"],
        )
    return result


def _invalidate_cache(job: Job) -> dict:
    invalidate_leaderboard(job.resources.cache)
    return {"invalidated": ["leaderboard"]}


def _backup(job: Job) -> dict:
    from ladder.backup.backups import create_backup
    from ladder.backup.store import Store

    settings = job.resources.settings
    manifest = create_backup(
        settings.database_url, Store(settings), report=lambda fraction, _: job.progress(fraction)
    )
    return {"backup_id": manifest.id, "seconds": manifest.total_seconds}


# The registry: job type → handler. A handler may complete its job itself
# (in its own transaction, for exactly-once effects) or return a result.
HANDLERS: dict[str, Callable[[Job], dict]] = {
    RECALCULATE: _recalculate,
    INVALIDATE_CACHE: _invalidate_cache,
    BACKUP: _backup,
}


def _claim(resources: Resources, envelope: Envelope) -> dict | None:
    """Mark the job running; None if it already succeeded (a duplicate delivery)."""

    def work(conn):
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

    return resources.db.run(work)


def _defer(resources: Resources, job_id: UUID, reason: str) -> None:
    """Back to the queue without counting as a failure: the message is consumed, and the
    sweeper sends the job again (within a minute or two) as it does any undispatched job.
    Meanwhile it stays `queued`, so new requests still merge into it."""
    logger.info("job deferred", job_id=str(job_id), reason=reason)
    resources.db.run(
        lambda conn: conn.execute(
            "UPDATE jobs SET status = 'queued', dispatched_at = NULL, error = %s"
            " WHERE id = %s AND status = 'running'",
            (f"waiting: {reason}", job_id),
        )
    )


def run_job(resources: Resources, envelope: Envelope) -> dict | None:
    """Run one delivered job; raises on failure so the queue retries (then DLQs) it."""
    handler = HANDLERS.get(envelope.type)
    if handler is None:
        metrics.add_metric(name="JobFailures", unit=MetricUnit.Count, value=1)
        raise UnknownJobType(f"no handler for job type {envelope.type!r}")
    claimed = _claim(resources, envelope)
    if claimed is None:
        logger.info("job already succeeded; skipping the duplicate", job_id=str(envelope.id))
        return None
    job = Job(envelope.id, claimed["type"], claimed["payload"], resources)
    started = time.monotonic()
    try:
        result = handler(job)
    except RecalculationBusy as busy:
        _defer(resources, envelope.id, str(busy))
        return None
    except Exception as exc:
        metrics.add_metric(name="JobFailures", unit=MetricUnit.Count, value=1)
        error = f"{type(exc).__name__}: {exc}"[:2000]
        resources.db.run(
            lambda conn: conn.execute(
                "UPDATE jobs SET status = 'failed', error = %s, finished_at = now()"
                " WHERE id = %s AND status <> 'succeeded'",
                (error, envelope.id),
            )
        )
        raise
    resources.db.run(
        lambda conn: conn.execute(
            "UPDATE jobs SET status = 'succeeded', progress = 1, finished_at = now(),"
            " result = coalesce(result, %s) WHERE id = %s",
            (Jsonb(result), envelope.id),
        )
    )
    metrics.add_metric(
        name="JobDuration", unit=MetricUnit.Seconds, value=time.monotonic() - started
    )
    logger.info("job succeeded", job_id=str(envelope.id), type=envelope.type)
    return result
