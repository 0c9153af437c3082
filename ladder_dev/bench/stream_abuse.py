"""The public stream under abuse: 2,000 clients that replay from 0 and stop reading.

Against one stream-service process holding EVENTS events (about 1 KB each):
- baseline: the same number of clients following live and reading;
- abuse: clients asking for every event since 0 (`Last-Event-ID: 0`) that never
  read a byte of the body, so the server's writes to them block.

Measured: `/health` latency (p99 while each load is on, against idle), answers
other than 200 (a 5xx is a failure), and the server's memory: at the start,
at the peak, and once the clients have left (it must come back to within 10%).
"""

from __future__ import annotations

import asyncio
import socket
import statistics
import time
from contextlib import ExitStack

import httpx

from ladder_dev.bench import Result

CLIENTS = 2_000
EVENTS = 20_000
HEALTH_PROBES = 200


async def _health_p99(url: str, probes: int = HEALTH_PROBES) -> float:
    """p99 of /health in ms, probes one after the other (as a load balancer's would)."""
    times = []
    async with httpx.AsyncClient(timeout=30) as client:
        for _ in range(probes):
            started = time.perf_counter()
            response = await client.get(f"{url}/health")
            times.append((time.perf_counter() - started) * 1000)
            if response.status_code != 200:
                raise RuntimeError(f"/health answered {response.status_code}")
            await asyncio.sleep(0.01)
    return statistics.quantiles(times, n=100, method="inclusive")[98]


async def _open(port: int, last_event_id: int | None, read: bool, statuses: list[int], stop):
    """One client: connect, ask, note the status; then read until `stop`, or never read."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a slow phone's window
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    reader, writer = await asyncio.open_connection(sock=sock, limit=2**16)
    resume = f"Last-Event-ID: {last_event_id}\r\n" if last_event_id is not None else ""
    writer.write(
        f"GET /v1/stream?topics=leaderboard HTTP/1.1\r\nHost: bench\r\n{resume}\r\n".encode()
    )
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 60)
        statuses.append(int(head.split(b" ", 2)[1]))
        while read and not stop.is_set():
            if not await reader.read(65536):
                break
        await stop.wait()
    except (OSError, asyncio.IncompleteReadError, TimeoutError):
        statuses.append(0)  # no answer at all
    finally:
        writer.close()


async def _phase(url: str, port: int, last_event_id: int | None, read: bool, server) -> dict:
    stop = asyncio.Event()
    statuses: list[int] = []
    tasks = []
    for i in range(CLIENTS):
        tasks.append(asyncio.create_task(_open(port, last_event_id, read, statuses, stop)))
        if i % 100 == 99:
            await asyncio.sleep(0.05)
    deadline = time.monotonic() + 120
    while len(statuses) < CLIENTS and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    p99 = await _health_p99(url)
    peak = server.rss_kib()
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    return {"p99": p99, "peak_kib": peak, "statuses": statuses}


def _wait_quiet(server, timeout: float = 90) -> None:
    """Until the server holds no client (it noticed every one leave)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.metric("ladder_stream_connections") == 0:
            return
        time.sleep(0.5)
    raise RuntimeError("the stream service still holds clients after they left")


def _settled_rss(server, start_kib: int, timeout: float = 30) -> int:
    """The server's RSS once it has had time to give memory back (it checks every 5 s):
    as soon as it is within 10% of `start_kib`, else after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rss = server.rss_kib()
        if rss <= start_kib * 1.1:
            return rss
        time.sleep(1)
    return server.rss_kib()


def bench_replay_abuse() -> list[Result]:
    from ladder_dev.bench.stream import scratch_settings
    from ladder_dev.streaming import StreamServer, publish, wait_published

    with ExitStack() as stack:
        settings = scratch_settings(stack, "bench_abuse")
        database_url = settings.database_url
        server = stack.enter_context(StreamServer(settings))
        publish(database_url, EVENTS, per_transaction=500, players_per_event=8)
        wait_published(database_url, EVENTS, timeout=120)
        idle = asyncio.run(_health_p99(server.url))
        cold_kib = server.rss_kib()
        live = asyncio.run(_phase(server.url, server.port, None, True, server))
        _wait_quiet(server)
        # The abusers' start: a process that has served its 2,000 live clients (holding
        # them leaves some 35 MiB of Python's own arenas behind, abuse or not).
        start_kib = _settled_rss(server, 0, timeout=12)
        abuse = asyncio.run(_phase(server.url, server.port, 0, False, server))
        _wait_quiet(server)
        after_kib = _settled_rss(server, start_kib)

    errors = sum(1 for s in abuse["statuses"] + live["statuses"] if s >= 500 or s == 0)
    print(
        f"  stream abuse: /health p99 idle {idle:.1f} ms, live {live['p99']:.1f} ms, "
        f"replaying {abuse['p99']:.1f} ms; RSS cold {cold_kib // 1024} MiB, before the "
        f"abusers {start_kib // 1024} MiB, peak "
        f"{abuse['peak_kib'] // 1024} MiB, after {after_kib // 1024} MiB; answers "
        f"{sorted(set(abuse['statuses']))}; 5xx or none {errors}",
        flush=True,
    )
    label = f"{CLIENTS} clients replaying {EVENTS} events from 0 and not reading"
    return [
        Result(
            f"stream /health p99 under abuse ({label})",
            abuse["p99"],
            "ms",
            "/health p99 idle",
            idle,
            abuse["p99"] / idle,
            5.0,
        ),
        Result(
            f"stream /health p99 with {CLIENTS} clients reading live",
            live["p99"],
            "ms",
            "/health p99 idle",
            idle,
            live["p99"] / idle,
            5.0,
        ),
        Result(
            f"stream RSS once the abusing clients left ({label})",
            after_kib / 1024,
            "MiB",
            "RSS before them",
            start_kib / 1024,
            after_kib / start_kib,
            1.1,
        ),
        Result(
            f"stream 5xx or unanswered requests ({label}, and {CLIENTS} live)",
            errors,
            "requests",
            "requests made",
            2 * CLIENTS,
            errors / (2 * CLIENTS),
            0.0,
        ),
    ]


if __name__ == "__main__":
    for result in bench_replay_abuse():
        print(result.line())
