"""Reading the published event log: live from Redis, history from Redis then Postgres.

The stream's entry ids are the global `seq`, the same numbers as the outbox's
`seq` column, so Redis is a fast window over the Postgres log and either can
answer for any range the other lost.

History is read in aligned blocks of `BLOCK` events that every client of the
process shares (`BlockCache`): a thousand clients resuming from the same
point cost one Redis read per block and one copy of its events in memory,
not a thousand. Each event is encoded as an SSE frame once, when read.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass

import redis.asyncio as aioredis
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from ladder_stream.errors import HistoryGone

CHUNK = 1000  # events per live read or Postgres query
BLOCK = 256  # events per shared history block
CACHED_BLOCKS = 64  # blocks kept for resuming clients (at ~1 KB an event, ~16 MB)


@dataclass(frozen=True, slots=True)
class StreamEvent:
    seq: int
    topics: tuple[str, ...]
    frame: bytes  # the SSE frame, encoded once and written to every client as is

    @classmethod
    def make(cls, seq: int, type_: str, topics: tuple[str, ...], data: str) -> StreamEvent:
        frame = f"id: {seq}\nevent: {type_}\ndata: {data}\n\n".encode()
        return cls(seq, topics, frame)

    @classmethod
    def from_redis(cls, entry_id: str, fields: dict[str, str]) -> StreamEvent:
        seq = int(entry_id.split("-", 1)[0])
        return cls.make(seq, fields["type"], tuple(fields["topics"].split(",")), fields["data"])

    @classmethod
    def from_row(cls, row: dict) -> StreamEvent:
        return cls.make(row["seq"], row["type"], tuple(row["topics"]), row["data"])


class BlockCache:
    """Complete history blocks from Redis, shared by every client of the process, with
    one read in flight per block however many clients wait for it. A burst of
    resuming clients is what it serves: once unused for a while, it lets go."""

    def __init__(self, size: int = CACHED_BLOCKS) -> None:
        self.size = size
        self._blocks: OrderedDict[int, list[StreamEvent]] = OrderedDict()
        self._reading: dict[int, asyncio.Future] = {}
        self._used = 0.0  # loop time of the last hit or read

    def evict_if_idle(self, idle_seconds: float) -> bool:
        """Drop every block if none was used for `idle_seconds`; whether any was dropped."""
        if not self._blocks or asyncio.get_running_loop().time() - self._used < idle_seconds:
            return False
        self._blocks.clear()
        return True

    async def get(self, index: int, read) -> list[StreamEvent]:
        """What Redis holds of block `index` (seqs index*BLOCK+1 …), read with
        `read(first, last)` on a miss; only a complete block is kept."""
        self._used = asyncio.get_running_loop().time()
        if (block := self._blocks.get(index)) is not None:
            self._blocks.move_to_end(index)
            return block
        if (pending := self._reading.get(index)) is not None:
            return await asyncio.shield(pending)
        future = asyncio.get_running_loop().create_future()
        self._reading[index] = future
        try:
            first = index * BLOCK + 1
            block = await read(first, first + BLOCK - 1)
            future.set_result(block)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: a lone reader's failure is raised below instead
            raise
        finally:
            del self._reading[index]
        if len(block) == BLOCK:  # seqs are unique and in range: complete means contiguous
            self._blocks[index] = block
            while len(self._blocks) > self.size:
                self._blocks.popitem(last=False)
        return block


class EventLog:
    def __init__(self, client: aioredis.Redis, pool: AsyncConnectionPool, key: str) -> None:
        self.redis = client
        self.pool = pool
        self.key = key
        self.blocks = BlockCache()

    async def latest(self) -> int:
        """The highest numbered seq: where a client without history starts."""
        async with self.pool.connection() as conn:
            cur = await conn.execute("SELECT coalesce(max(seq), 0) FROM event_outbox")
            (top,) = await cur.fetchone()
            return top

    async def newest_in_redis(self) -> int:
        """The highest seq the Redis stream holds (0: none)."""
        last = await self.redis.xrevrange(self.key, count=1)
        return int(last[0][0].split("-", 1)[0]) if last else 0

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

        Redis first, in shared blocks; any range Redis lacks (trimmed, flushed,
        failed over) comes from Postgres; if Postgres lacks it too, `HistoryGone`.
        """
        expected = after + 1
        while expected <= upto:
            cached: list[StreamEvent] = []
            with contextlib.suppress(aioredis.RedisError):  # then Postgres answers
                block = await self.blocks.get((expected - 1) // BLOCK, self.from_redis)
                cached = [e for e in block if expected <= e.seq <= upto]
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
