"""Server-sent events for one client: resume, live feed, heartbeats, clean ends.

Written as a plain ASGI response (not Starlette's StreamingResponse) so every
write has a deadline: a client that stops reading is dropped after
`send_timeout` instead of holding its buffers forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import AsyncIterator

from ladder.errors import BadRequest
from ladder.observability import logger
from ladder_stream import metrics as m
from ladder_stream.errors import HistoryGone
from ladder_stream.hub import Hub, Subscriber
from ladder_stream.log import EventLog, StreamEvent

RETRY_MS = 3000
REPLAY_WRITE = 16 * 1024  # bytes of history frames per write to a resuming client


class ReplayChunk(bytes):
    """History frames: written under the replay's (shorter) deadline."""


TOPIC = re.compile(
    r"^(leaderboard|matches|ladder:[a-z][a-z0-9-]{1,31}"
    r"|player:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$"
)
MAX_TOPICS = 50


def parse_topics(raw: str | None) -> frozenset[str]:
    names = [t.strip().lower() for t in (raw or "").split(",") if t.strip()]
    if not names:
        raise BadRequest(
            "name at least one topic: ?topics=leaderboard,matches,ladder:<slug>,player:<id>"
        )
    if len(names) > MAX_TOPICS:
        raise BadRequest(f"at most {MAX_TOPICS} topics per stream")
    unknown = [t for t in names if not TOPIC.match(t)]
    if unknown:
        raise BadRequest(
            f"unknown topics {unknown}: use leaderboard, matches, ladder:<slug> or player:<uuid>"
        )
    return frozenset(names)


# ASCII digits only: str.isdigit() is true for "²" and "١", which int() refuses.
EVENT_ID = re.compile(r"[0-9]{1,18}")


def parse_last_event_id(header: str | None, query: str | None) -> int | None:
    raw = header if header not in (None, "") else query
    if raw in (None, ""):
        return None
    if not EVENT_ID.fullmatch(raw):
        raise BadRequest("Last-Event-ID must be a non-negative integer event id")
    return int(raw)


def reset_event(latest: int) -> bytes:
    return f"id: {latest}\nevent: reset\ndata: {json.dumps({'latest_id': latest})}\n\n".encode()


async def client_events(
    hub: Hub,
    log: EventLog,
    sub: Subscriber,
    last_id: int | None,
    heartbeat: float,
    replay_slots: asyncio.Semaphore,
    replay_budget: float = 30.0,
) -> AsyncIterator[bytes]:
    """What one client is sent: history after `last_id`, then live events, exactly once.

    A replay holds one of `replay_slots` from its first read to its last write: however
    many clients ask for history at once, only that many read and buffer it; the
    others wait their turn holding nothing. It holds it for at most `replay_budget`
    seconds: a client reading that slowly is ended (it resumes from the last id it got),
    so a few slow readers cannot keep everyone else's history waiting.
    """
    yield f"retry: {RETRY_MS}\n\n".encode()
    sent = sub.start
    if last_id is not None:
        if last_id > sub.start and last_id > await log.latest():
            # An id from the future (another database, a restore): start over.
            m.RESETS.inc()
            yield reset_event(sub.start)
        elif last_id >= sub.start:
            sent = last_id  # this process is behind the client's last one: skip what it saw
        elif await _take_slot(replay_slots, sub):
            loop = asyncio.get_running_loop()
            deadline = loop.time() + replay_budget
            try:
                async for chunk in _replay(log, sub, last_id):
                    yield chunk
                    if loop.time() > deadline:
                        m.DROPS.labels(reason="replay_budget").inc()
                        return
            finally:
                replay_slots.release()
        else:
            return  # ended (gone, closing) while waiting its turn
    while True:
        try:
            item = await asyncio.wait_for(sub.queue.get(), heartbeat)
        except TimeoutError:
            yield b": heartbeat\n\n"
            continue
        if not isinstance(item, StreamEvent):
            return  # dropped or closing: the client reconnects with its Last-Event-ID
        if item.seq > sent:
            sent = item.seq
            yield item.frame


async def _take_slot(slots: asyncio.Semaphore, sub: Subscriber) -> bool:
    """A replay slot, unless the client's stream ends first (it disconnected)."""
    if not slots.locked():
        await slots.acquire()  # the common case: no task to wait with
        return True
    taking = asyncio.ensure_future(slots.acquire())
    ending = asyncio.ensure_future(sub.ended.wait())
    try:
        await asyncio.wait({taking, ending}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        ending.cancel()
        if not taking.done():
            taking.cancel()
    # Cancelling a finished acquire does not give the slot back: check what happened.
    if taking.done() and not taking.cancelled():
        if sub.ended.is_set():
            slots.release()
            return False
        return True
    return False


async def _replay(log: EventLog, sub: Subscriber, last_id: int) -> AsyncIterator[bytes]:
    """History after `last_id` up to where the live feed starts, or a reset."""
    sources = set()
    batch: list[bytes] = []
    size = 0
    try:
        async for source, event in log.history(last_id, sub.start):
            sources.add(source)
            if sub.topics.intersection(event.topics):
                # Writes of up to REPLAY_WRITE bytes: one write per event would cost a
                # thousand sends per thousand events.
                batch.append(event.frame)
                size += len(event.frame)
                if size >= REPLAY_WRITE:
                    yield ReplayChunk(b"".join(batch))
                    batch, size = [], 0
        if batch:
            yield ReplayChunk(b"".join(batch))
        for source in sources:
            m.RESUMES.labels(source=source).inc()
    except HistoryGone:
        m.RESETS.inc()
        yield reset_event(sub.start)


class EventStreamResponse:
    """An ASGI `text/event-stream` response whose every write has a deadline."""

    def __init__(
        self,
        chunks: AsyncIterator[bytes],
        send_timeout: float,
        on_end,
        replay_send_timeout: float | None = None,
        on_disconnect=lambda: None,
    ) -> None:
        """`on_disconnect` runs as soon as the client goes, and must make `chunks` end
        (an idle stream would otherwise notice only at its next heartbeat)."""
        self.chunks = chunks
        self.send_timeout = send_timeout
        self.replay_send_timeout = replay_send_timeout or send_timeout
        self.on_end = on_end
        self.on_disconnect = on_disconnect

    async def __call__(self, scope, receive, send) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"text/event-stream; charset=utf-8"),
                    (b"cache-control", b"no-cache"),
                    (b"x-accel-buffering", b"no"),
                ],
            }
        )
        disconnected = asyncio.create_task(_wait_disconnect(receive, self.on_disconnect))
        m.CONNECTIONS.inc()
        try:
            async for chunk in self.chunks:
                if disconnected.done():
                    return
                # A client that cannot take its history promptly is dropped early: it
                # holds a replay slot, and resumes later from its last id.
                deadline = (
                    self.replay_send_timeout
                    if isinstance(chunk, ReplayChunk)
                    else self.send_timeout
                )
                await asyncio.wait_for(
                    send({"type": "http.response.body", "body": chunk, "more_body": True}),
                    deadline,
                )
                if chunk.startswith(b"id:"):
                    m.EVENTS_SENT.inc(chunk.count(b"\nevent: "))
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except TimeoutError:
            m.DROPS.labels(reason="send_timeout").inc()
        except OSError:
            pass  # the client went away mid-write
        except Exception:  # the status is sent: end this stream, never the process's
            logger.exception("stream ended by an error; the client resumes from its last id")
            m.DROPS.labels(reason="error").inc()
        finally:
            m.CONNECTIONS.dec()
            disconnected.cancel()
            with contextlib.suppress(Exception):
                await self.chunks.aclose()
            self.on_end()


async def _wait_disconnect(receive, on_disconnect) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
    on_disconnect()
