"""The stream service: SSE at /v1/stream, the live leaderboard page, /health.

Each process runs one hub (the live reader) and one relay candidate (a
thread; one process in the fleet leads). Prometheus metrics are served on a
separate port bound to 127.0.0.1, never on the public listener. On SIGTERM
or SIGINT every stream ends cleanly before the server stops, so clients
reconnect (to any task) with their Last-Event-ID.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import signal
import threading
from collections.abc import AsyncIterator
from importlib import resources
from pathlib import Path

import redis.asyncio as aioredis
from psycopg_pool import AsyncConnectionPool
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ladder.api.problems import problem_response
from ladder.credentials import database_conninfo, redis_password
from ladder.errors import ProblemError
from ladder.events import stream_metrics as m
from ladder.events.hub import BLOCK_MS, Hub
from ladder.events.log import EventLog
from ladder.events.relay import PublishStats, Relay, stream_key
from ladder.events.sse import (
    EventStreamResponse,
    client_events,
    parse_last_event_id,
    parse_topics,
)
from ladder.observability import logger
from ladder.settings import Settings, get_settings

READ_MARGIN_SECONDS = 5.0
STATIC = Path(str(resources.files("ladder.events").joinpath("static")))


def _record_relay(stats: PublishStats) -> None:
    m.RELAY_PUBLISHED.inc(stats.published)
    if stats.lag_seconds is not None:
        m.RELAY_LAG.set(stats.lag_seconds)


def _start_metrics_server(settings: Settings) -> None:
    from prometheus_client import start_http_server

    try:
        server, _ = start_http_server(settings.stream_metrics_port, addr="127.0.0.1")
        logger.info("metrics on 127.0.0.1", port=server.server_port)
    except OSError as exc:  # another process on this host already serves them
        logger.warning("metrics port unavailable", error=str(exc))


async def _watch_lag(hub: Hub, every: float = 2.0) -> None:
    while True:
        try:
            await hub.measure_lag()
            m.HUB_BEHIND.set(hub.behind)
        except Exception:  # a failed look must not end the watching
            logger.exception("could not measure the live reader's lag")
        await asyncio.sleep(every)


async def _give_back_freed_memory(hub: Hub, log: EventLog, every: float = 5.0) -> None:
    """After clients leave, hand the memory they used back to the system (and the
    history blocks they shared, once no one has used them for a while).

    Clients' buffers are many medium-sized allocations; once freed, glibc keeps
    the pages in its heap, so RSS stays at its peak long after a burst (a
    replay storm of 2,000 clients left 300 MB behind). `malloc_trim` releases
    free pages; nothing in the standard library does this, hence ctypes.
    """
    try:
        trim = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc: nothing to do
        return
    seen = hub.subscribers
    while True:
        await asyncio.sleep(every)
        evicted = log.blocks.evict_if_idle(2 * every)
        if evicted or hub.subscribers < seen:  # some left since the last look
            await asyncio.to_thread(trim, 0)
        seen = hub.subscribers


def _end_streams_on_signals(loop: asyncio.AbstractEventLoop, hub: Hub) -> None:
    """Chain our handler before the server's: end streams, then let it shut down."""
    for sig in (signal.SIGTERM, signal.SIGINT):
        previous = signal.getsignal(sig)

        def handler(signum, frame, previous=previous):
            loop.call_soon_threadsafe(lambda: asyncio.ensure_future(hub.stop()))
            if callable(previous):
                previous(signum, frame)

        signal.signal(sig, handler)


def stream_redis_client(settings: Settings) -> aioredis.Redis:
    """The hub's and the event log's Redis client. The hub blocks in XREAD for up to
    `BLOCK_MS`, so reads may take that long plus a margin; redis-py's default 5 s socket
    timeout would end every idle XREAD with an error (and a fallback to Postgres)."""
    return aioredis.Redis.from_url(
        settings.redis_url,
        password=redis_password(settings),
        decode_responses=True,
        client_name="ladder-stream",
        socket_timeout=BLOCK_MS / 1000 + READ_MARGIN_SECONDS,
        socket_connect_timeout=READ_MARGIN_SECONDS,
        socket_keepalive=True,
    )


def create_stream_app(settings: Settings | None = None, *, relay: bool = True) -> Starlette:
    settings = settings or get_settings()
    state: dict = {}

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        pool = AsyncConnectionPool(
            lambda: database_conninfo(settings.database_url, settings),
            min_size=1,
            max_size=settings.db_pool_size,
            open=False,
            kwargs={"autocommit": True, "prepare_threshold": None},
        )
        await pool.open()
        client = stream_redis_client(settings)
        log = EventLog(client, pool, stream_key(settings))
        hub = Hub(
            log,
            queue_size=settings.stream_queue_size,
            on_drop=lambda: m.DROPS.labels(reason="queue_full").inc(),
        )
        await hub.start()
        replay_slots = asyncio.Semaphore(settings.stream_replay_concurrency)
        state.update(hub=hub, log=log, replay_slots=replay_slots)
        trimmer = asyncio.create_task(_give_back_freed_memory(hub, log), name="ladder-trim")
        watcher = asyncio.create_task(_watch_lag(hub), name="ladder-lag")
        _end_streams_on_signals(asyncio.get_running_loop(), hub)
        if settings.stream_metrics_port:
            _start_metrics_server(settings)
        stop = threading.Event()
        relay_thread = None
        if relay:
            candidate = Relay(settings, on_publish=_record_relay, on_restart=m.RELAY_RESTARTS.inc)
            m.RELAY_LEADER.set_function(lambda: float(candidate.leading.is_set()))
            relay_thread = threading.Thread(
                target=candidate.run, args=(stop,), name="ladder-relay", daemon=True
            )
            relay_thread.start()
        try:
            yield
        finally:
            stop.set()
            trimmer.cancel()
            watcher.cancel()
            await hub.stop()
            if relay_thread:
                await asyncio.to_thread(relay_thread.join, 5)
            await client.aclose()
            await pool.close()

    async def stream(request: Request) -> Response:
        try:
            topics = parse_topics(request.query_params.get("topics"))
            last_id = parse_last_event_id(
                request.headers.get("last-event-id"), request.query_params.get("last_event_id")
            )
        except ProblemError as exc:  # problem types are the API's, served there
            return problem_response(
                settings.public_api_url, exc.status, exc.title, exc.detail, exc.slug
            )
        hub: Hub = state["hub"]
        if hub.subscribers >= settings.stream_max_clients:
            m.DROPS.labels(reason="full").inc()
            return problem_response(
                settings.public_api_url,
                503,
                "Service unavailable",
                f"this stream process serves {settings.stream_max_clients} clients; retry",
                "service-unavailable",
                headers={"Retry-After": "5"},
            )
        sub = hub.subscribe(topics)
        events = client_events(
            hub, state["log"], sub, last_id, settings.stream_heartbeat, state["replay_slots"]
        )
        return EventStreamResponse(
            events,
            settings.stream_send_timeout,
            on_end=lambda: hub.unsubscribe(sub),
            replay_send_timeout=settings.stream_replay_send_timeout,
        )

    async def health(_: Request) -> Response:
        """Cheap on purpose (the load balancer asks every 15 s, under any load): it reads
        what the lag watcher measured, and fails only if the live reader is stuck."""
        hub: Hub | None = state.get("hub")
        if hub is None or not hub.ready.is_set():
            return JSONResponse({"status": "starting"}, status_code=503)
        body = {"position": hub.position, "behind": hub.behind, "clients": hub.subscribers}
        if hub.stalled:
            return JSONResponse({"status": "stalled", **body}, status_code=503)
        return JSONResponse({"status": "ok", **body})

    async def page(_: Request) -> Response:
        html = (STATIC / "index.html").read_text()
        return HTMLResponse(html.replace("{{API_URL}}", settings.public_api_url))

    return Starlette(
        routes=[
            Route("/", page),
            Route("/health", health),
            Route("/v1/stream", stream),
            Mount("/static", app=StaticFiles(directory=STATIC), name="static"),
        ],
        lifespan=lifespan,
    )
