"""The rank index's encoding, attacked: for any standings Postgres can hold, the values
Postgres computes for the index are the ones Python reads back, and Redis orders them
as the board does (rating desc, games desc, handle asc, byte by byte)."""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime

import psycopg
import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ladder.rank_index.entries import (
    MAX_GAMES,
    decode,
    epoch_micros,
    indexed_columns,
    member,
    position_key,
    score,
)

ratings = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False, width=64),
    st.sampled_from([0.0, -0.0, 1500.0, 1500.0000000000002, 5e-324, -5e-324, 1e308]),
)
handles = st.from_regex(r"[a-z0-9_]{3,32}", fullmatch=True)
games = st.one_of(st.integers(0, MAX_GAMES), st.sampled_from([0, 1, 9, 10, MAX_GAMES]))
moments = st.datetimes(
    min_value=datetime(1970, 1, 2), max_value=datetime(9999, 1, 1), timezones=st.just(UTC)
)
standing = st.tuples(ratings, games, handles, st.uuids(version=4), moments)


def in_postgres(conn: psycopg.Connection, rows: list[tuple]) -> list[list[str]]:
    values = ", ".join(
        "(%s::float8, %s::int4, %s::text, %s::uuid, %s::timestamptz, 7::int8)" for _ in rows
    )
    return [
        list(row)
        for row in conn.execute(
            f"SELECT {indexed_columns()} FROM (VALUES {values})"
            " AS s (rating, games, handle, player_id, last_played_at, version)",
            [value for row in rows for value in row],
        ).fetchall()
    ]


@pytest.fixture(scope="module")
def conn(database_url):
    with psycopg.connect(database_url, autocommit=True) as connection:
        yield connection


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=st.lists(standing, min_size=1, max_size=8, unique_by=lambda r: r[2]))
def test_what_postgres_computes_reads_back_and_sorts_as_the_board(conn, redis_url, rows):
    computed = in_postgres(conn, rows)
    for (rating, played, handle, player, last), values in zip(rows, computed, strict=True):
        assert values[0] == str(player)
        assert values[1] == "7"
        assert float(values[2]) == -rating  # the score: exact
        assert values[3] == member(played, handle, player)
        assert values[3].startswith(position_key(played, handle))
        assert values[4] == str(played)
        assert values[5] == str(epoch_micros(last))
        back = decode(values[3], values[2])
        assert (back["player_id"], back["handle"], back["games"]) == (player, handle, played)
        assert back["rating"] == rating
        assert back["rating"] != 0 or math.copysign(1, back["rating"]) == 1  # never -0.0
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    key = f"ladder-test-encoding-{uuid.uuid4().hex}"
    try:
        client.zadd(key, {values[3]: values[2] for values in computed})
        in_redis = [decode(m, s)["handle"] for m, s in client.zrange(key, 0, -1, withscores=True)]
    finally:
        client.delete(key)
        client.close()
    board = sorted(rows, key=lambda r: (-r[0], -r[1], r[2].encode()))
    assert in_redis == [r[2] for r in board]


def test_a_score_of_zero_reads_back_as_a_rating_of_plus_zero():
    for text in ("0", "-0", 0.0, -0.0):
        rating = decode(member(3, "zero", uuid.uuid4()), text)["rating"]
        assert rating == 0.0
        assert math.copysign(1, rating) == 1.0
    assert score(0.0) == "-0.0"  # what is sent; Redis keeps it as 0
