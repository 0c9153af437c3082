"""Fixtures of the integration tests that drive the job pipeline as Lambda runs it."""

import importlib
import uuid

import boto3
import pytest

from ladder.settings import get_settings
from ladder_dev.dev import create_aws_resources
from ladder_dev.local_worker import poll_once


@pytest.fixture
def queues(aws):
    """A fresh jobs queue and DLQ for this test (redrive after 5 receives)."""
    suffix = uuid.uuid4().hex[:8]
    return create_aws_resources(
        aws["AWS_ENDPOINT_URL"], queue=f"jobs-{suffix}", dlq=f"jobs-dlq-{suffix}"
    )


@pytest.fixture
def jobs(monkeypatch, settings, queues):
    """functions.jobs as Lambda loads it, configured for this test's database and queues."""
    env = {
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.redis_url,
        "LADDER_REDIS_PREFIX": settings.redis_prefix,
        "AWS_ENDPOINT_URL": settings.aws_endpoint_url,
        "LADDER_DB_POOL_SIZE": str(settings.db_pool_size),  # a Lambda's, as the fixture's
        **queues,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    import functions.jobs

    module = importlib.reload(functions.jobs)
    yield module
    module.resources.close()
    get_settings.cache_clear()


@pytest.fixture
def api(jobs):
    """An API client wired to the same settings (so it dispatches to this test's queue)."""
    from fastapi.testclient import TestClient

    from ladder.api.app import create_app

    with TestClient(create_app(jobs.resources)) as client:
        yield client


def drain(jobs, queue_url: str, rounds: int = 50) -> None:
    client = boto3.client("sqs")
    for _ in range(rounds):
        received, _ = poll_once(client, queue_url, jobs.handler, wait_seconds=0)
        if not received:
            return
