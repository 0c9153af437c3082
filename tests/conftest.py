"""Test harness: real Postgres and Redis, a fresh database and key prefix per session.

Postgres: `LADDER_TEST_POSTGRES_URL` or 127.0.0.1:5432, else an embedded
server. Redis: `LADDER_TEST_REDIS_URL` or 127.0.0.1:6379, else a private
server. Everything created here is dropped at the end of the session.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import psycopg
import pytest
import redis
from psycopg import sql

from ladder.auth import SCOPE_ADMIN, SCOPE_WRITE, issue_dev_token
from ladder.db.migrations import migrate
from ladder.resources import Resources
from ladder.settings import DEV_JWT_SECRET, Settings
from scripts.local_services import (
    embedded_postgres,
    postgres_answers,
    redis_answers,
    redis_server,
)

SESSION_TAG = uuid.uuid4().hex[:10]
TABLES = "players, matches, rating_history, event_outbox, idempotency_records, jobs"


def _with_database(url: str, name: str) -> str:
    return psycopg.conninfo.make_conninfo(url, dbname=name)


@pytest.fixture(scope="session")
def services() -> Iterator[ExitStack]:
    with ExitStack() as stack:
        yield stack


@pytest.fixture(scope="session")
def postgres_server_url(services: ExitStack) -> str:
    url = os.environ.get(
        "LADDER_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
    )
    if postgres_answers(url):
        return url
    datadir = Path(services.enter_context(tempfile.TemporaryDirectory())) / "pg"
    return services.enter_context(embedded_postgres(datadir))


@pytest.fixture(scope="session")
def create_database(postgres_server_url: str):
    """A factory of empty databases, all dropped at the end of the session."""
    created: list[str] = []

    def create(purpose: str = "db") -> str:
        name = f"ladder_test_{SESSION_TAG}_{purpose}_{len(created)}"
        with psycopg.connect(postgres_server_url, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        created.append(name)
        return _with_database(postgres_server_url, name)

    yield create
    with psycopg.connect(postgres_server_url, autocommit=True) as conn:
        for name in created:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@pytest.fixture(scope="session")
def database_url(create_database) -> str:
    url = create_database("main")
    migrate(url)
    return url


@pytest.fixture(scope="session")
def redis_url(services: ExitStack) -> str:
    url = os.environ.get("LADDER_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    if redis_answers(url):
        return url
    url, _ = services.enter_context(redis_server())
    return url


@pytest.fixture(scope="session")
def redis_prefix(redis_url: str) -> Iterator[str]:
    prefix = f"ladder-test-{SESSION_TAG}:"
    yield prefix
    _delete_prefix(redis_url, prefix)


def _delete_prefix(url: str, prefix: str) -> None:
    client = redis.Redis.from_url(url)
    keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
    if keys:
        client.delete(*keys)


@pytest.fixture
def settings(database_url: str, redis_url: str, redis_prefix: str) -> Settings:
    return Settings(
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        redis_prefix=redis_prefix,
        jwt_secret=DEV_JWT_SECRET,
        auth_mode="hs256",
    )


@pytest.fixture
def clean_state(database_url: str, redis_url: str, redis_prefix: str) -> None:
    """Empty tables and cache before a test; each test starts from nothing."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE")
        conn.execute("ALTER SEQUENCE match_seq RESTART")
    _delete_prefix(redis_url, redis_prefix)


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
