"""Test harness: real Postgres and Redis, a fresh database and key prefix per session.

Postgres: `LADDER_TEST_POSTGRES_URL` or 127.0.0.1:5432, else an embedded
server. Redis: `LADDER_TEST_REDIS_URL` or 127.0.0.1:6379, else a private
server. Everything created here is dropped at the end of the session.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import ExitStack

import psycopg
import pytest

from ladder.auth import SCOPE_ADMIN, SCOPE_WRITE, issue_dev_token
from ladder.db.migrations import migrate
from ladder.db.roles import ROLES
from ladder.resources import Resources
from ladder.settings import DEV_JWT_SECRET, Settings
from ladder_dev.local_services import (
    any_postgres,
    any_redis,
    delete_keys,
    drop_roles,
    existing_roles,
    scratch_database,
)
from tests.synthesized import Synthesized, synthesize

SESSION_TAG = uuid.uuid4().hex[:10]
TABLES = (
    "players, standings, matches, rating_history, event_outbox, idempotency_records, jobs, imports,"
    " rating_rules_applied, seasons, season_standings, opening_balances"
)
# The ladder `default` as the migration creates it.
DEFAULT_LADDER_SQL = (
    "UPDATE ladders SET name = 'Default',"
    ' board = \'{"min_games": 1, "inactive_after_days": null}\', rules ='
    ' \'{"initial": 1500.0, "provisional_games": 30, "k_provisional": 40.0,'
    ' "k_established": 20.0, "master_threshold": 2400.0, "k_master": 10.0,'
    " \"max_rating_gap\": null}', seasons = NULL, reset_through = NULL WHERE slug = 'default'"
)


@pytest.fixture(scope="session")
def services() -> Iterator[ExitStack]:
    """Everything the session starts or creates, closed (dropped, stopped) at its end."""
    with ExitStack() as stack:
        yield stack


@pytest.fixture(scope="session")
def postgres_server_url(services: ExitStack) -> str:
    url = services.enter_context(any_postgres())
    # ladder's roles are cluster-wide: drop the ones this session created, last of all
    # (once every database granting them something is gone).
    services.callback(drop_roles, url, (*ROLES, "rds_iam"), keep=existing_roles(url))
    return url


@pytest.fixture(scope="session")
def create_database(services: ExitStack, postgres_server_url: str):
    """A factory of empty databases, all dropped at the end of the session."""
    return lambda purpose="db": services.enter_context(
        scratch_database(postgres_server_url, f"test_{purpose}")
    )


@pytest.fixture(scope="session")
def database_url(create_database) -> str:
    url = create_database("main")
    migrate(url)
    return url


@pytest.fixture(scope="session")
def redis_url(services: ExitStack) -> str:
    return services.enter_context(any_redis())


@pytest.fixture(scope="session")
def redis_prefix(redis_url: str) -> Iterator[str]:
    prefix = f"ladder-test-{SESSION_TAG}:"
    yield prefix
    delete_keys(redis_url, prefix)


@pytest.fixture(scope="session")
def aws(services: ExitStack) -> dict[str, str]:
    """An in-process moto server with the jobs queue and DLQ (redrive after 5 receives)."""
    from moto.server import ThreadedMotoServer

    from ladder_dev.dev import FAKE_AWS_CREDENTIALS, create_aws_resources

    os.environ.update(FAKE_AWS_CREDENTIALS)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    services.callback(server.stop)
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    return {"AWS_ENDPOINT_URL": endpoint, **create_aws_resources(endpoint)}


@pytest.fixture
def settings(database_url: str, redis_url: str, redis_prefix: str, aws) -> Settings:
    return Settings(
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        redis_prefix=redis_prefix,
        jwt_secret=DEV_JWT_SECRET,
        auth_mode="hs256",
        AWS_ENDPOINT_URL=aws["AWS_ENDPOINT_URL"],
        jobs_queue_url=aws["LADDER_JOBS_QUEUE_URL"],
        jobs_dlq_url=aws["LADDER_JOBS_DLQ_URL"],
        # What every Lambda gets (infra/lambdas.py); tests/deployed runs each function with
        # its whole template environment.
        db_pool_size=1,
    )


@pytest.fixture
def clean_state(database_url: str, redis_url: str, redis_prefix: str) -> None:
    """Empty tables and cache before a test; each test starts from nothing."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE")
        conn.execute("DELETE FROM ladders WHERE slug <> 'default'")
        conn.execute(DEFAULT_LADDER_SQL)
        conn.execute("ALTER SEQUENCE match_seq RESTART")
        conn.execute("UPDATE job_locks SET holder = NULL, lease_until = NULL")
    delete_keys(redis_url, redis_prefix)


@pytest.fixture
def resources(settings: Settings, clean_state) -> Iterator[Resources]:
    res = Resources.from_settings(settings)
    yield res
    res.close()


@pytest.fixture
def client(resources: Resources):
    from fastapi.testclient import TestClient

    from ladder.api.app import create_app

    with TestClient(create_app(resources)) as test_client:
        yield test_client


@pytest.fixture
def db(database_url: str, clean_state) -> Iterator[psycopg.Connection]:
    """A plain connection for assertions against what the code stored."""
    from psycopg.rows import dict_row

    with psycopg.connect(database_url, autocommit=True, row_factory=dict_row) as conn:
        yield conn


def bearer(*scopes: str, subject: str = "test-client") -> dict[str, str]:
    token = issue_dev_token(DEV_JWT_SECRET, list(scopes), subject=subject)
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def writer() -> dict[str, str]:
    return bearer(SCOPE_WRITE)


@pytest.fixture
def admin() -> dict[str, str]:
    return bearer(SCOPE_ADMIN)


@pytest.fixture
def store(settings):
    """A fresh bucket for this test's backups."""
    import boto3

    from ladder.backup.store import Store

    bucket = f"backups-{uuid.uuid4().hex[:10]}"
    boto3.client("s3", endpoint_url=settings.aws_endpoint_url).create_bucket(Bucket=bucket)
    return Store(settings.model_copy(update={"backup_bucket": bucket}))


@pytest.fixture
def populated(client, writer, admin, db, resources):
    """Rows in every table, using every column type of the schema."""
    from ladder_dev.streaming import publish
    from tests.helpers import create_player, record_match

    ids = [
        create_player(client, writer, f"bk_{i}", email=f"p{i}@example.com")["id"] for i in range(5)
    ]
    for i in range(40):
        record_match(client, writer, ids[i % 5], ids[(i + 2) % 5], [0.0, 0.5, 1.0][i % 3])
    client.post("/v1/admin/recalculations", headers=admin)  # a jobs row (jsonb payload)
    db.execute("INSERT INTO rating_rules_applied (rules) VALUES ('{\"initial\": 1500.0}')")
    publish(resources.settings.database_url, 5, players_per_event=2)
    return ids


# Each stage synthesized once per session, offline, with cdk-nag (as `make synth`).
@pytest.fixture(scope="session")
def prod(tmp_path_factory) -> Synthesized:
    return synthesize(tmp_path_factory, "prod")


@pytest.fixture(scope="session")
def staging(tmp_path_factory) -> Synthesized:
    return synthesize(tmp_path_factory, "staging")


@pytest.fixture(scope="session")
def preview(tmp_path_factory) -> Synthesized:
    return synthesize(tmp_path_factory, "pr-7")


@pytest.fixture(scope="session")
def other_preview(tmp_path_factory) -> Synthesized:
    return synthesize(tmp_path_factory, "pr-8")


@pytest.fixture(scope="session")
def with_certificate(tmp_path_factory) -> Synthesized:
    return synthesize(
        tmp_path_factory,
        "pr-9",
        certificate_arn="arn:aws:acm:us-east-1:111111111111:certificate/abc",
        alarm_email="oncall@example.com",
    )
