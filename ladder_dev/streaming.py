"""Stream-service processes, an SSE reader and a publisher (tests, benchmarks, drills)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
from psycopg.rows import dict_row

from ladder.events import write_event
from ladder_dev.local_services import free_port

REPO = Path(__file__).resolve().parents[1]  # the repository root


class StreamServer:
    """`uvicorn functions.stream:app` in its own process, as it runs on Fargate."""

    def __init__(self, settings, *, port: int | None = None, **env: str) -> None:
        self.port = port or free_port()
        self.metrics_port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "DATABASE_URL": settings.database_url,
            "REDIS_URL": settings.redis_url,
            "LADDER_REDIS_PREFIX": settings.redis_prefix,
            "LADDER_STREAM_METRICS_PORT": str(self.metrics_port),
            "LADDER_RELAY_POLL_INTERVAL": "0.2",
            **env,
        }
        self.process: subprocess.Popen | None = None
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 - open as long as the server

    def start(self) -> StreamServer:
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "functions.stream:app",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--log-level",
                "warning",
            ],
            cwd=REPO,
            env=self.env,
            stdout=subprocess.DEVNULL,
            # A file, not a pipe: a server logging under load must never block on a full pipe.
            stderr=self.log,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.log.seek(0)
                raise RuntimeError(f"stream service exited: {self.log.read().decode()}")
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError("stream service did not become healthy")

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> int:
        if self.process and self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(timeout)
        return self.process.returncode

    def metric(self, name: str) -> float:
        text = httpx.get(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5).text
        total = 0.0
        for line in text.splitlines():
            if line.startswith(name) and not line.startswith("#"):
                total += float(line.rsplit(" ", 1)[1])
        return total

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError("no VmRSS")

    def __enter__(self) -> StreamServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


@dataclass
class Sse:
    id: int | None
    event: str
    data: str


def read_sse(response: httpx.Response) -> Iterator[Sse | str]:
    """Parse an open event stream: yields events, and comments/retry lines as strings."""
    fields: dict[str, str] = {}
    for line in response.iter_lines():
        if line == "":
            if "event" in fields or "data" in fields:
                raw_id = fields.get("id")
                yield Sse(
                    int(raw_id) if raw_id else None,
                    fields.get("event", "message"),
                    fields.get("data", ""),
                )
            fields = {}
        elif line.startswith(":") or line.startswith("retry:"):
            yield line
        else:
            name, _, value = line.partition(":")
            fields[name] = value.removeprefix(" ")


def open_stream(base_url: str, topics: str, last_event_id: int | None = None, **kwargs):
    headers = {"Last-Event-ID": str(last_event_id)} if last_event_id is not None else {}
    return httpx.stream(
        "GET",
        f"{base_url}/v1/stream",
        params={"topics": topics},
        headers=headers,
        timeout=httpx.Timeout(30.0),
        **kwargs,
    )


def publish(
    database_url: str,
    count: int,
    *,
    per_transaction: int = 50,
    pause: float = 0.0,
    reason: str = "test",
    players_per_event: int = 0,
) -> None:
    """Write `count` leaderboard.changed events through the registry, as writes do."""
    players = [
        {"player_id": str(uuid.uuid4()), "handle": f"p{i}", "rating": 1500.0 + i, "games": i}
        for i in range(players_per_event)
    ]
    with psycopg.connect(database_url, autocommit=True, row_factory=dict_row) as conn:
        written = 0
        while written < count:
            with conn.transaction():
                for _ in range(min(per_transaction, count - written)):
                    write_event(conn, "leaderboard.changed", {"reason": reason, "players": players})
                    written += 1
            if pause:
                time.sleep(pause)


def wait_published(database_url: str, count: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    with psycopg.connect(database_url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            (done,) = conn.execute(
                "SELECT count(*) FROM event_outbox WHERE published_at IS NOT NULL"
            ).fetchone()
            if done >= count:
                return
            time.sleep(0.1)
    raise AssertionError(f"only {done} of {count} events were published in {timeout} s")
