"""One live reader per process, fanned out to bounded per-client queues.

The hub follows the Redis stream with a single XREAD BLOCK loop and hands
each event to the subscribers of its topics with `put_nowait`: a client whose
queue is full is dropped (it resumes later from its Last-Event-ID) and never
delays the others. The hub itself delivers every seq exactly once and in
order: a gap in what Redis returns is filled from Postgres, and while Redis
does not answer the hub follows Postgres instead.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import Callable

import redis.asyncio as aioredis

from ladder.observability import logger
from ladder_stream.log import EventLog, StreamEvent

# Sentinels a subscriber's queue can carry instead of an event.
DROPPED = "dropped"  # the client fell too far behind
CLOSING = "closing"  # the process is shutting down
GONE = "gone"  # the client disconnected


# How long one XREAD waits for new events before asking again.
BLOCK_MS = 5000
# Behind Redis without moving for this long, the live reader is stuck (a half-open
# socket, a wedged task): the process reports itself unhealthy so it is replaced.
STALL_SECONDS = 30.0


class Subscriber:
    """A client's live feed: events of its topics after `start`."""

    def __init__(self, topics: frozenset[str], start: int, queue_size: int) -> None:
        self.topics = topics
        self.start = start
        self.queue: asyncio.Queue[StreamEvent | str] = asyncio.Queue(maxsize=queue_size)
        self.ended = asyncio.Event()
        self.subscribed = True

    def offer(self, event: StreamEvent) -> bool:
        try:
            self.queue.put_nowait(event)
            return True
        except asyncio.QueueFull:
            return False

    def end(self, reason: str) -> None:
        """Replace whatever is queued by `reason`: the client resumes from its last id."""
        self.ended.set()
        while not self.queue.empty():
            self.queue.get_nowait()
        self.queue.put_nowait(reason)


class Hub:
    def __init__(
        self,
        log: EventLog,
        *,
        queue_size: int,
        block_ms: int = BLOCK_MS,
        postgres_poll: float = 0.5,
        on_drop: Callable[[], None] | None = None,
    ) -> None:
        self.log = log
        self.queue_size = queue_size
        self.block_ms = block_ms
        self.postgres_poll = postgres_poll
        self.on_drop = on_drop
        self.position = 0
        self.ready = asyncio.Event()
        self._by_topic: dict[str, set[Subscriber]] = defaultdict(set)
        self.subscribers = 0  # clients following the live feed now
        self.behind = 0  # events Redis holds past `position`, as last measured
        self._stuck_since: float | None = None
        self._last_position = 0
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        self.position = await self.log.latest()
        self.ready.set()
        self._task = asyncio.create_task(self._follow(), name="ladder-hub")

    async def stop(self) -> None:
        """End every stream cleanly (clients reconnect elsewhere) and stop reading."""
        for sub in {s for subs in self._by_topic.values() for s in subs}:
            sub.end(CLOSING)
        self._by_topic.clear()
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    @property
    def stalled(self) -> bool:
        """Behind Redis, without progress, for longer than `STALL_SECONDS`."""
        since = self._stuck_since
        return since is not None and asyncio.get_running_loop().time() - since > STALL_SECONDS

    async def measure_lag(self) -> None:
        """Compare the position with Redis' newest event (cheap: one XREVRANGE); /health
        and the `behind` metric read what this found."""
        before = self.position
        try:
            newest = await self.log.newest_in_redis()
        except aioredis.RedisError:
            self._stuck_since = None  # Redis is out: the hub follows Postgres meanwhile
            return
        self.behind = max(0, newest - before)
        now = asyncio.get_running_loop().time()
        if self.behind == 0:
            self._stuck_since = None
        elif self._stuck_since is None or self.position != self._last_position:
            self._stuck_since = now
        self._last_position = before

    def subscribe(self, topics: frozenset[str]) -> Subscriber:
        """Register a client; it receives live events after the hub's current position.

        Synchronous on purpose: no event can slip between reading the
        position and joining the fan-out.
        """
        sub = Subscriber(topics, self.position, self.queue_size)
        for topic in topics:
            self._by_topic[topic].add(sub)
        self.subscribers += 1
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        """When the client's stream ends, or the hub drops it; a second call (the stream
        of a dropped client ends too) changes nothing."""
        if not sub.subscribed:
            return
        sub.subscribed = False
        self.subscribers -= 1
        for topic in sub.topics:
            subs = self._by_topic.get(topic)
            if subs is not None:
                subs.discard(sub)
                if not subs:
                    del self._by_topic[topic]

    async def _follow(self) -> None:
        while True:
            try:
                events = await self.log.read_live(self.position, self.block_ms)
            except aioredis.RedisError as exc:
                logger.warning("redis unavailable; following postgres", error=str(exc))
                events = await self.log.from_postgres(self.position + 1, 2**62)
                if not events:
                    await asyncio.sleep(self.postgres_poll)
            except Exception:  # keep serving: a bad moment must not end live delivery
                logger.exception("hub read failed")
                await asyncio.sleep(self.postgres_poll)
                continue
            for event in events:
                if event.seq <= self.position:
                    continue  # re-added after a stream repair: already delivered
                if event.seq > self.position + 1:
                    await self._fill_gap(event.seq - 1)
                self._dispatch(event)

    async def _fill_gap(self, upto: int) -> None:
        while self.position < upto:
            events = await self.log.from_postgres(self.position + 1, upto)
            if not events or events[0].seq != self.position + 1:
                logger.error("gap in the event log", after=self.position, upto=upto)
                self.position = upto  # nothing to deliver; clients' resumes will reset
                return
            for event in events:
                self._dispatch(event)

    def _dispatch(self, event: StreamEvent) -> None:
        self.position = event.seq
        targets = set()
        for topic in event.topics:
            targets |= self._by_topic.get(topic, set())
        for sub in targets:
            if not sub.offer(event):
                self.unsubscribe(sub)
                sub.end(DROPPED)
                if self.on_drop:
                    self.on_drop()
