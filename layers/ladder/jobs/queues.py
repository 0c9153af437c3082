"""Queue governance: depth and age of the job queues, and DLQ redrive."""

from __future__ import annotations

from ladder.aws import aws_errors_are_unavailable
from ladder.db import Database
from ladder.errors import NotFound
from ladder.jobs import store
from ladder.jobs.dispatch import sqs_client
from ladder.jobs.errors import QueueUnavailable
from ladder.settings import Settings

QUEUE_NAMES = ("jobs",)


def _urls(settings: Settings, name: str) -> tuple[str, str | None]:
    if name not in QUEUE_NAMES:
        raise NotFound(f"no queue named {name!r}; queues: {', '.join(QUEUE_NAMES)}")
    if not settings.jobs_queue_url:
        raise QueueUnavailable("no jobs queue is configured (LADDER_JOBS_QUEUE_URL)")
    return settings.jobs_queue_url, settings.jobs_dlq_url


def _depths(client, url: str) -> dict[str, int]:
    attributes = client.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return {
        "visible": int(attributes.get("ApproximateNumberOfMessages", 0)),
        "in_flight": int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0)),
        "delayed": int(attributes.get("ApproximateNumberOfMessagesDelayed", 0)),
    }


@aws_errors_are_unavailable
def queue_stats(settings: Settings, db: Database) -> list[dict]:
    """Per queue: visible, in flight, delayed, oldest age (s), DLQ depth."""
    client = sqs_client(settings)
    # SQS reports the oldest message's age only as a CloudWatch metric; the
    # jobs table knows when each waiting job was sent, which is the same fact.
    oldest = store.oldest_waiting_age(db)
    stats = []
    for name in QUEUE_NAMES:
        url, dlq_url = _urls(settings, name)
        stats.append(
            {
                "name": name,
                **_depths(client, url),
                "oldest_age_s": None if oldest is None else round(oldest, 3),
                "dlq_depth": _depths(client, dlq_url)["visible"] if dlq_url else None,
            }
        )
    return stats


@aws_errors_are_unavailable
def redrive(settings: Settings, name: str, *, limit: int = 1000) -> int:
    """Move up to `limit` messages from the DLQ back to the queue; return how many.

    Done by receive/send/delete rather than SQS's StartMessageMoveTask so it
    answers with a count at once and works against any SQS implementation
    (the local stack's moto has no move tasks).
    """
    url, dlq_url = _urls(settings, name)
    if not dlq_url:
        raise QueueUnavailable(f"queue {name!r} has no DLQ configured (LADDER_JOBS_DLQ_URL)")
    client = sqs_client(settings)
    moved = 0
    while moved < limit:
        messages = client.receive_message(
            QueueUrl=dlq_url, MaxNumberOfMessages=min(10, limit - moved), WaitTimeSeconds=0
        ).get("Messages", [])
        if not messages:
            break
        for message in messages:
            client.send_message(QueueUrl=url, MessageBody=message["Body"])
            client.delete_message(QueueUrl=dlq_url, ReceiptHandle=message["ReceiptHandle"])
            moved += 1
    return moved
