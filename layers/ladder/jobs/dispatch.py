"""Sending committed jobs to the queue, after the transaction that recorded them.

If sending fails, the job stays undispatched and the sweeper sends it later
(`dispatch_pending`); the worker is idempotent by job id, so a duplicate send
is harmless.
"""

from __future__ import annotations

from uuid import UUID

from ladder.db import Database
from ladder.jobs import store
from ladder.jobs.envelope import Envelope
from ladder.observability import logger
from ladder.settings import Settings


def sqs_client(settings: Settings):
    import boto3  # lazily: only the paths that dispatch pay for it

    return boto3.client(
        "sqs", endpoint_url=settings.aws_endpoint_url, region_name=settings.aws_region
    )


def dispatch(db: Database, settings: Settings, job_ids: list[UUID]) -> int:
    """Send committed jobs to the queue and mark them dispatched; return how many."""
    if not job_ids or not settings.jobs_queue_url:
        return 0
    sent = []
    try:
        client = sqs_client(settings)
        for row in store.undispatched(db, job_ids):
            body = Envelope(type=row["type"], id=row["id"], payload=row["payload"])
            client.send_message(
                QueueUrl=settings.jobs_queue_url, MessageBody=body.model_dump_json()
            )
            sent.append(row["id"])
    except Exception as exc:  # the sweeper re-sends what is left; the write stands
        logger.warning("job dispatch failed; the sweeper will retry", error=str(exc))
    if sent:
        store.mark_dispatched(db, sent)
    return len(sent)


def dispatch_pending(db: Database, settings: Settings, older_than_seconds: float = 30) -> int:
    """Re-send jobs committed but never dispatched (the sweeper's backstop)."""
    return dispatch(db, settings, store.pending_undispatched(db, older_than_seconds))
