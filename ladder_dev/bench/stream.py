"""Stream fan-out: 2,000 subscribers, 200 events/s, commit-to-client latency and memory.

Ours: one stream-service process (one Redis reader fanning out to per-client
queues) serving 2,000 SSE clients. Baseline, same run, same relay and Redis:
2,000 Redis readers, one connection and XREAD loop per client, which is what
a service without the hub would run. Each subscriber follows one player;
each event concerns two players, so every event reaches two subscribers.
"""

from __future__ import annotations

import asyncio
import json
import random
import statistics
import threading
import time
import uuid
from contextlib import ExitStack
from pathlib import Path

import psycopg
import redis
import redis.asyncio as aioredis
from psycopg.rows import dict_row

from ladder_dev.bench import Result

SUBSCRIBERS = 2_000
RATE = 200  # events per second
SECONDS = 10
DRAIN = 15  # seconds to wait for stragglers after the last event


def _rss_kib(pid: int | str = "self") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def _publish(database_url: str, players: list[str], stop: threading.Event) -> int:
    """Commit RATE events/s, each stamped with its commit time; return how many."""
    from ladder.events import write_event

    rng = random.Random(7)
    sent = 0
    with psycopg.connect(database_url, autocommit=True, row_factory=dict_row) as conn:
        start = time.monotonic()
        while sent < RATE * SECONDS and not stop.is_set():
            pair = rng.sample(players, 2)
            payload = {
                "reason": f"{time.time():.6f}",
                "players": [
                    {"player_id": p, "handle": "bench", "rating": 1500.0, "games": 1} for p in pair
                ],
            }
            with conn.transaction():
                write_event(conn, "leaderboard.changed", payload)
            sent += 1
            delay = start + sent / RATE - time.monotonic()
            if delay > 0:
                time.sleep(delay)
    return sent


async def _run(clients, latencies: list[float], database_url, players, measure):
    """Start the clients, publish, and wait until every event reached its two subscribers."""
    stop = asyncio.Event()
    ready = asyncio.Semaphore(0)
    tasks = []
    for batch in range(0, len(clients), 100):
        for make in clients[batch : batch + 100]:
            tasks.append(asyncio.create_task(make(ready, stop)))
        await asyncio.sleep(0.05)
    for _ in clients:
        await ready.acquire()
    memory = measure()
    publisher_stop = threading.Event()
    published = await asyncio.to_thread(_publish, database_url, players, publisher_stop)
    deadline = time.monotonic() + DRAIN
    while len(latencies) < published * 2 and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    stop.set()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return published, memory


def _sse_client(port: int, player: str, latencies: list[float]):
    async def run(ready: asyncio.Semaphore, stop: asyncio.Event) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            f"GET /v1/stream?topics=player:{player} HTTP/1.1\r\nHost: bench\r\n\r\n".encode()
        )
        await reader.readuntil(b"\r\n\r\n")
        ready.release()
        try:
            while not stop.is_set():
                line = await reader.readline()
                if not line:
                    return
                if line.startswith(b"data: "):
                    stamp = float(json.loads(line[6:])["reason"])
                    latencies.append(time.time() - stamp)
        finally:
            writer.close()

    return run


def _redis_reader(url: str, key: str, player: str, latencies: list[float]):
    topic = f"player:{player}"

    async def run(ready: asyncio.Semaphore, stop: asyncio.Event) -> None:
        client = aioredis.Redis.from_url(url, decode_responses=True, single_connection_client=True)
        last = (await client.xinfo_stream(key))["last-generated-id"]
        ready.release()
        try:
            while not stop.is_set():
                answer = await client.xread({key: last}, block=1000, count=500)
                for _, entries in answer:
                    for entry_id, fields in entries:
                        last = entry_id
                        if topic in fields["topics"].split(","):
                            stamp = float(json.loads(fields["data"])["reason"])
                            latencies.append(time.time() - stamp)
        finally:
            await client.aclose()

    return run


def _percentiles(latencies: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    return cuts[49] * 1000, cuts[98] * 1000


def scratch_settings(stack: ExitStack, purpose: str):
    """Settings on a migrated scratch database and a Redis prefix of their own, both
    removed when `stack` closes."""
    from ladder.db.migrations import migrate
    from ladder.settings import Settings
    from ladder_dev.local_services import any_postgres, any_redis, delete_keys, scratch_database

    database_url = stack.enter_context(
        scratch_database(stack.enter_context(any_postgres()), purpose)
    )
    migrate(database_url)
    redis_url = stack.enter_context(any_redis())
    prefix = f"ladder-bench-{uuid.uuid4().hex[:8]}:"
    stack.callback(delete_keys, redis_url, prefix)
    return Settings(DATABASE_URL=database_url, REDIS_URL=redis_url, redis_prefix=prefix)


def bench_fanout() -> list[Result]:
    from ladder.events.relay import stream_key
    from ladder_dev.streaming import StreamServer, publish, wait_published

    with ExitStack() as stack:
        settings = scratch_settings(stack, "bench_stream")
        database_url, redis_url = settings.database_url, settings.redis_url
        server = stack.enter_context(StreamServer(settings))
        publish(database_url, 1)  # the stream exists before baseline readers ask for its tail
        wait_published(database_url, 1)
        players = [str(uuid.uuid4()) for _ in range(SUBSCRIBERS)]
        hub_connections = redis.Redis.from_url(redis_url)

        ours: list[float] = []
        idle_rss = server.rss_kib()
        connected: dict[str, float] = {}

        def measure_ours() -> None:
            connected["rss"] = server.rss_kib()
            connected["redis"] = sum(
                1 for c in hub_connections.client_list() if c.get("name") == "ladder-stream"
            )

        published, _ = asyncio.run(
            _run(
                [_sse_client(server.port, p, ours) for p in players],
                ours,
                database_url,
                players,
                measure_ours,
            )
        )
        our_kib = (connected["rss"] - idle_rss) / SUBSCRIBERS

        baseline: list[float] = []
        before = _rss_kib()
        baseline_rss: dict[str, float] = {}
        asyncio.run(
            _run(
                [_redis_reader(redis_url, stream_key(settings), p, baseline) for p in players],
                baseline,
                database_url,
                players,
                lambda: baseline_rss.update(rss=_rss_kib()),
            )
        )
        base_kib = (baseline_rss["rss"] - before) / SUBSCRIBERS

    expected = published * 2
    ours_p50, ours_p99 = _percentiles(ours)
    base_p50, base_p99 = _percentiles(baseline)
    label = f"{SUBSCRIBERS} subscribers, {RATE} events/s"
    print(
        f"  stream: delivered {len(ours)}/{expected} (ours), {len(baseline)}/{expected} "
        f"(baseline); Redis connections: {connected['redis']} (ours) vs {SUBSCRIBERS}",
        flush=True,
    )
    return [
        Result(
            f"stream p50 commit-to-client ({label})",
            ours_p50,
            "ms",
            "a Redis reader per client",
            base_p50,
            ours_p50 / base_p50,
            1.0,
        ),
        Result(
            f"stream p99 commit-to-client ({label})",
            ours_p99,
            "ms",
            "a Redis reader per client",
            base_p99,
            ours_p99 / base_p99,
            1.0,
        ),
        Result(
            f"stream memory per connection ({label})",
            our_kib,
            "KiB",
            "a Redis reader per client (client side)",
            base_kib,
            our_kib / base_kib,
            1.0,
        ),
        Result(
            f"stream Redis connections ({label})",
            connected["redis"],
            "connections",
            "a Redis reader per client",
            SUBSCRIBERS,
            connected["redis"] / SUBSCRIBERS,
            # A constant, whatever the clients: the live reader's connection, and one for
            # history reads and the health watcher's look at the stream's tail.
            2 / SUBSCRIBERS,
        ),
    ]
