"""The stream service's ASGI app: SSE at /v1/stream, the live leaderboard page, /health.

Each process runs one hub (the live reader) and, through `tasks`, one relay
candidate, a lag watcher, the metrics server on 127.0.0.1 and signal handling
that ends every stream cleanly before the server stops, so clients reconnect
(to any task) with their Last-Event-ID.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator
from importlib import resources
from pathlib import Path

from psycopg_pool import AsyncConnectionPool
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ladder.credentials import database_conninfo
from ladder.errors import BadRequest
from ladder.events.relay import stream_key
from ladder.problems import MEDIA_TYPE, headers_for, problem_body, slug_for_status
from ladder.redis_clients import async_redis_client
from ladder.settings import Settings, get_settings
from ladder_stream import metrics as m
from ladder_stream import tasks
from ladder_stream.hub import BLOCK_MS, GONE, Hub
from ladder_stream.log import EventLog
from ladder_stream.sse import (
    EventStreamResponse,
    client_events,
    parse_last_event_id,
    parse_topics,
)

READ_MARGIN_SECONDS = 5.0
STATIC = Path(str(resources.files("ladder_stream").joinpath("static")))


def stream_redis_client(settings: Settings):
    """The hub's and the event log's Redis client. The hub blocks in XREAD for up to
    `BLOCK_MS`, so a call may take that long plus a margin; redis-py's default 5 s socket
    timeout would end every idle XREAD with an error (and a fallback to Postgres)."""
    return async_redis_client(
        settings, timeout=BLOCK_MS / 1000 + READ_MARGIN_SECONDS, name="ladder-stream"
    )


def problem(settings: Settings, slug: str, detail: str) -> JSONResponse:
    """A problem+json answer whose type the API serves (the stream serves no docs)."""
    body = problem_body(settings.public_api_url, slug, detail)
    return JSONResponse(
        body, status_code=body["status"], media_type=MEDIA_TYPE, headers=headers_for(slug)
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
        trimmer = asyncio.create_task(tasks.give_back_freed_memory(hub, log), name="ladder-trim")
        watcher = asyncio.create_task(tasks.watch_lag(hub), name="ladder-lag")
        tasks.end_streams_on_signals(asyncio.get_running_loop(), hub)
        if settings.stream_metrics_port:
            tasks.start_metrics_server(settings)
        stop = threading.Event()
        relay_thread = tasks.start_relay(settings, stop) if relay else None
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
        if request.method == "HEAD":
            # Headers only, and no subscription: a HEAD response has no body to end, so
            # a stream behind it would never notice its client leave.
            return Response(headers={"content-type": "text/event-stream; charset=utf-8"})
        try:
            topics = parse_topics(request.query_params.get("topics"))
            last_id = parse_last_event_id(
                request.headers.get("last-event-id"), request.query_params.get("last_event_id")
            )
        except BadRequest as exc:
            return problem(settings, "bad-request", exc.detail)
        hub: Hub = state["hub"]
        if hub.subscribers >= settings.stream_max_clients:
            m.DROPS.labels(reason="full").inc()
            detail = f"this stream process serves {settings.stream_max_clients} clients; retry"
            return problem(settings, "service-unavailable", detail)
        sub = hub.subscribe(topics)
        events = client_events(
            hub,
            state["log"],
            sub,
            last_id,
            settings.stream_heartbeat,
            state["replay_slots"],
            settings.stream_replay_budget,
        )
        return EventStreamResponse(
            events,
            settings.stream_send_timeout,
            on_end=lambda: hub.unsubscribe(sub),
            replay_send_timeout=settings.stream_replay_send_timeout,
            on_disconnect=lambda: sub.end(GONE),
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

    async def not_routed(request: Request, exc: HTTPException) -> Response:
        slug = slug_for_status(exc.status_code)
        return problem(settings, slug, f"{request.method} {request.url.path}: {exc.detail}")

    return Starlette(
        exception_handlers={HTTPException: not_routed},
        routes=[
            Route("/", page),
            Route("/health", health),
            Route("/v1/stream", stream),
            Mount("/static", app=StaticFiles(directory=STATIC), name="static"),
        ],
        lifespan=lifespan,
    )
