"""EventLog.history: Redis first, Postgres for what Redis lacks, HistoryGone beyond both."""

import asyncio

import psycopg
import pytest
import redis
import redis.asyncio as aioredis
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from ladder.events.relay import Publisher, stream_key
from ladder_dev.streaming import publish
from ladder_stream.errors import HistoryGone
from ladder_stream.log import EventLog

pytestmark = pytest.mark.usefixtures("clean_state")


def published(settings, count: int) -> None:
    publish(settings.database_url, count)
    client = redis.Redis.from_url(settings.redis_url, decode_responses=True)
    with psycopg.connect(settings.database_url, autocommit=True, row_factory=dict_row) as conn:
        Publisher(conn, client, settings).publish_pending()


async def history(settings, after: int, upto: int) -> list[tuple[str, int]]:
    client = aioredis.Redis.from_url(settings.redis_url, decode_responses=True)
    async with AsyncConnectionPool(settings.database_url, min_size=1, open=False) as pool:
        log = EventLog(client, pool, stream_key(settings))
        try:
            return [(source, e.seq) async for source, e in log.history(after, upto)]
        finally:
            await client.aclose()


def test_history_fills_what_redis_lost_from_postgres(settings):
    published(settings, 3_000)
    client = redis.Redis.from_url(settings.redis_url)
    client.xtrim(
        stream_key(settings), minid="1201-0", approximate=False
    )  # Redis keeps 1201..3000 only
    got = asyncio.run(history(settings, 100, 3_000))
    assert [seq for _, seq in got] == list(range(101, 3_001))
    assert {seq for source, seq in got if source == "postgres"} == set(range(101, 1_201))
    assert {seq for source, seq in got if source == "redis"} == set(range(1_201, 3_001))


def test_history_comes_from_postgres_when_redis_lost_everything(settings):
    published(settings, 50)
    redis.Redis.from_url(settings.redis_url).delete(stream_key(settings))
    got = asyncio.run(history(settings, 0, 50))
    assert got == [("postgres", seq) for seq in range(1, 51)]


def test_history_beyond_both_stores_is_gone(settings):
    published(settings, 50)
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        conn.execute("DELETE FROM event_outbox WHERE seq <= 20")
    redis.Redis.from_url(settings.redis_url).xtrim(
        stream_key(settings), minid="30-0", approximate=False
    )
    with pytest.raises(HistoryGone, match="event 6 "):
        asyncio.run(history(settings, 5, 50))
