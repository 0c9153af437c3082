"""Running a job: claim it by id (idempotency), hand it to its type's handler (the
application's, `ladder.job_handlers`), record the outcome.

Idempotency lives in Postgres, in the `jobs` row, rather than in Powertools'
Redis idempotency store: the recalculation marks its job succeeded in the
same transaction as the ratings it writes, so "applied" and "recorded as
applied" can never disagree, which a record in another store cannot promise.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from uuid import UUID

from ladder.jobs import store
from ladder.jobs.envelope import Envelope
from ladder.jobs.errors import JobDeferred, UnknownJobType
from ladder.observability import MetricUnit, logger, metrics
from ladder.resources import Resources


@dataclass(frozen=True)
class Job:
    id: UUID
    type: str
    payload: dict
    resources: Resources

    def progress(self, fraction: float) -> None:
        store.record_progress(self.resources.db, self.id, fraction)


# What a job type's handler is: it may complete its job itself (in its own transaction,
# for exactly-once effects) or return a result.
Handler = Callable[[Job], dict]


def run_job(
    resources: Resources, envelope: Envelope, handlers: Mapping[str, Handler]
) -> dict | None:
    """Run one delivered job with its type's handler; raises on failure so the queue
    retries (then DLQs) it."""
    handler = handlers.get(envelope.type)
    if handler is None:
        metrics.add_metric(name="JobFailures", unit=MetricUnit.Count, value=1)
        raise UnknownJobType(f"no handler for job type {envelope.type!r}")
    claimed = store.claim(resources.db, envelope)
    if claimed is None:
        logger.info("job already succeeded; skipping the duplicate", job_id=str(envelope.id))
        return None
    job = Job(envelope.id, claimed["type"], claimed["payload"], resources)
    started = time.monotonic()
    try:
        result = handler(job)
    except JobDeferred as busy:
        # Back to the queue without counting as a failure: the message is consumed,
        # and the sweeper sends the job again within a minute or two.
        logger.info("job deferred", job_id=str(envelope.id), reason=str(busy))
        store.defer(resources.db, envelope.id, str(busy))
        return None
    except Exception as exc:
        metrics.add_metric(name="JobFailures", unit=MetricUnit.Count, value=1)
        store.mark_failed(resources.db, envelope.id, f"{type(exc).__name__}: {exc}")
        raise
    store.record_success(resources.db, envelope.id, result)
    metrics.add_metric(
        name="JobDuration", unit=MetricUnit.Seconds, value=time.monotonic() - started
    )
    logger.info("job succeeded", job_id=str(envelope.id), type=envelope.type)
    return result
