"""Reading the published event log: live from Redis, history from Redis then Postgres.

The stream's entry ids are the global `seq`, the same numbers as the outbox's
`seq` column, so Redis is a fast window over the Postgres log and either can
answer for any range the other lost.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import redis.asyncio as aioredis
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

CHUNK = 1000


class HistoryGone(Exception):
    """The events after a client's position are in neither Redis nor Postgres."""


@dataclass(frozen=True, slots=True)
class StreamEvent:
    seq: int
    type: str
    topics: tuple[str, ...]
    data: str  # the payload's JSON text, sent as is

    def sse(self) -> bytes:
        return f"id: {self.seq}\nevent: {self.type}\ndata: {self.data}\n\n".encode()

    @classmethod
    def from_redis(cls, entry_id: str, fields: dict[str, str]) -> StreamEvent:
        return cls(
            seq=int(entry_id.split("-", 1)[0]),
            type=fields["type"],
            topics=tuple(fields["topics"].split(",")),
            data=fields["data"],
        )

    @classmethod
    def from_row(cls, row: dict) -> StreamEvent:
        return cls(row["seq"], row["type"], tuple(row["topics"]), row["data"])


class EventLog:
    def __init__(self, client: aioredis.Redis, pool: AsyncConnectionPool, key: str) -> None:
        self.redis = client
        self.pool = pool
        self.key = key

    async def latest(self) -> int:
        """The highest numbered seq: where a client without history starts."""
        async with self.pool.connection() as conn:
            cur = await conn.execute("SELECT coalesce(max(seq), 0) FROM event_outbox")
            (top,) = await cur.fetchone()
            return top

    async def read_live(self, after: int, block_ms: int) -> list[StreamEvent]:
        """Events after `after` as Redis receives them (blocks up to `block_ms`)."""
        answer = await self.redis.xread({self.key: f"{after}-0"}, count=CHUNK, block=block_ms)
        if not answer:
            return []
        return [StreamEvent.from_redis(i, f) for i, f in answer[0][1]]

    async def from_postgres(self, first: int, last: int) -> list[StreamEvent]:
        async with self.pool.connection() as conn:
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(
                "SELECT seq, type, topics, payload::text AS data FROM event_outbox"
                " WHERE seq BETWEEN %s AND %s ORDER BY seq LIMIT %s",
                (first, last, CHUNK),
            )
            return [StreamEvent.from_row(row) for row in await cur.fetchall()]

    async def from_redis(self, first: int, last: int) -> list[StreamEvent]:
        entries = await self.redis.xrange(self.key, f"{first}-0", f"{last}-0", count=CHUNK)
        return [StreamEvent.from_redis(i, f) for i, f in entries]

    async def history(self, after: int, upto: int) -> AsyncIterator[tuple[str, StreamEvent]]:
        """Every event with `after < seq <= upto`, in order, with where it came from.

        Redis first; any range Redis lacks (trimmed, flushed, failed over)
        comes from Postgres; if Postgres lacks it too, `HistoryGone`.
        """
        expected = after + 1
        while expected <= upto:
            cached: list[StreamEvent] = []
            with contextlib.suppress(aioredis.RedisError):  # then Postgres answers
                cached = await self.from_redis(expected, upto)
            source, chunk = "redis", _contiguous(cached, expected)
            if not chunk:
                # Postgres only for the part Redis lacks; Redis resumes after it.
                source, missing_upto = "postgres", cached[0].seq - 1 if cached else upto
                chunk = _contiguous(await self.from_postgres(expected, missing_upto), expected)
            if not chunk:
                raise HistoryGone(f"event {expected} is no longer kept")
            for event in chunk:
                yield source, event
            expected = chunk[-1].seq + 1


def _contiguous(events: list[StreamEvent], expected: int) -> list[StreamEvent]:
    """The leading run of `events` that continues exactly from `expected`."""
    run = []
    for event in events:
        if event.seq != expected:
            break
        run.append(event)
        expected += 1
    return run
