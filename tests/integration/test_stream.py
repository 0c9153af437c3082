"""The stream service as clients see it: real processes on one Postgres and Redis."""

import signal
import socket
import threading
import time

import httpx
import psycopg
import pytest
import redis

from ladder.events.relay import stream_key, sweep
from ladder_dev.local_services import wait_until
from ladder_dev.streaming import Sse, StreamServer, open_stream, publish, read_sse, wait_published

pytestmark = pytest.mark.usefixtures("clean_state")


def events_of(stream, count: int, *, within: float = 90) -> list[Sse]:
    """Read until `count` events arrived (comments and retry lines skipped)."""
    got, deadline = [], time.monotonic() + within
    for item in read_sse(stream):
        if time.monotonic() > deadline:
            raise AssertionError(f"only {len(got)} of {count} events within {within} s")
        if isinstance(item, Sse):
            got.append(item)
            if len(got) == count:
                break
    return got


def test_a_client_cut_off_mid_stream_resumes_on_another_process_with_every_event_once(settings):
    total = 10_000
    with StreamServer(settings) as first, StreamServer(settings) as second:
        publisher = threading.Thread(
            target=publish, args=(settings.database_url, total), kwargs={"pause": 0.005}
        )
        with open_stream(first.url, "leaderboard") as stream:
            lines = read_sse(stream)
            assert next(lines) == "retry: 3000"
            publisher.start()
            before_cut = []
            for item in lines:
                if isinstance(item, Sse):
                    before_cut.append(item)
                    if len(before_cut) == 3_000:
                        break
        # Cut off mid-stream; resume on the other process while publishing goes on.
        with open_stream(second.url, "leaderboard", last_event_id=before_cut[-1].id) as stream:
            after_cut = events_of(stream, total - len(before_cut))
        publisher.join()
    ids = [e.id for e in before_cut + after_cut]
    assert ids == list(range(1, total + 1))
    assert {e.event for e in before_cut + after_cut} == {"leaderboard.changed"}


def test_resuming_with_the_last_event_id_query_parameter(settings):
    """Browsers' EventSource cannot set headers on a first connection: ?last_event_id= does."""
    with StreamServer(settings) as server:
        publish(settings.database_url, 20)
        wait_published(settings.database_url, 20)
        with httpx.stream(
            "GET",
            f"{server.url}/v1/stream",
            params={"topics": "leaderboard", "last_event_id": "12"},
            timeout=httpx.Timeout(30.0),
        ) as stream:
            assert [e.id for e in events_of(stream, 8)] == list(range(13, 21))


def test_after_redis_lost_the_stream_a_resuming_client_still_gets_every_event(settings):
    client = redis.Redis.from_url(settings.redis_url)
    with StreamServer(settings) as server:
        with open_stream(server.url, "leaderboard") as stream:
            publish(settings.database_url, 500)
            first = events_of(stream, 200)
        wait_published(settings.database_url, 500)
        client.delete(stream_key(settings))  # a flush / failover without persistence
        publish(settings.database_url, 500)
        with open_stream(server.url, "leaderboard", last_event_id=first[-1].id) as stream:
            rest = events_of(stream, 800)
    assert [e.id for e in first + rest] == list(range(1, 1001))
    # The relay rebuilt the recent window in Redis from Postgres.
    assert client.xlen(stream_key(settings)) == 1000


def test_topics_filter_what_a_client_receives(settings, client, writer):
    from tests.helpers import create_player, record_match

    with StreamServer(settings) as server:
        a = create_player(client, writer, "watched")["id"]
        b = create_player(client, writer, "other")["id"]
        with open_stream(server.url, f"player:{a}") as stream:
            match = record_match(client, writer, a, b, 1.0).json()
            got = events_of(stream, 2)
    assert [e.event for e in got] == ["match.recorded", "leaderboard.changed"]
    import json

    assert json.loads(got[0].data) == match  # the match exactly as the API returned it


def test_a_too_old_or_unknown_last_event_id_gets_a_reset(settings, database_url):
    with StreamServer(settings) as server:
        publish(settings.database_url, 100)
        wait_published(settings.database_url, 100)
        # History before 60 is gone from both stores.
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute("DELETE FROM event_outbox WHERE seq < 60")
        redis.Redis.from_url(settings.redis_url).xtrim(
            stream_key(settings), minid="60-0", approximate=False
        )
        wait_until(  # the hub has seen all 100
            lambda: httpx.get(f"{server.url}/health").json().get("position") == 100,
            what="the hub at event 100",
        )
        for last_id in (10, 10**9):
            with open_stream(server.url, "leaderboard", last_event_id=last_id) as stream:
                (reset,) = events_of(stream, 1)
            assert reset.event == "reset"
            assert reset.id == 100
            assert reset.data == '{"latest_id": 100}'
        # A recent id still resumes normally.
        with open_stream(server.url, "leaderboard", last_event_id=95) as stream:
            assert [e.id for e in events_of(stream, 5)] == [96, 97, 98, 99, 100]


def test_bad_stream_requests_are_problem_json(settings):
    with StreamServer(settings) as server:
        for params, headers in (
            ({}, {}),
            ({"topics": "secrets"}, {}),
            ({"topics": "player:not-a-uuid"}, {}),
            ({"topics": "leaderboard"}, {"Last-Event-ID": "-4"}),
            ({"topics": "leaderboard", "last_event_id": "abc"}, {}),
            ({"topics": "leaderboard", "last_event_id": "\u00b2"}, {}),  # a Unicode digit
            ({"topics": "leaderboard", "last_event_id": "\u0661\u0662"}, {}),  # Arabic-Indic
            ({"topics": "leaderboard"}, {"Last-Event-ID": "\u00b2".encode()}),  # as UTF-8 bytes
        ):
            response = httpx.get(f"{server.url}/v1/stream", params=params, headers=headers)
            assert response.status_code == 400, (params, response.text)
            assert response.headers["content-type"] == "application/problem+json"
            assert response.json()["type"].endswith("/problems/bad-request")
        assert httpx.get(f"{server.url}/metrics").status_code == 404


def test_heartbeats_keep_an_idle_stream_alive(settings):
    with (
        StreamServer(settings, LADDER_STREAM_HEARTBEAT="0.3") as server,
        open_stream(server.url, "matches") as stream,
    ):
        lines = read_sse(stream)
        assert next(lines) == "retry: 3000"
        assert next(lines) == ": heartbeat"


def test_sigterm_ends_streams_cleanly_and_the_process_exits(settings):
    server = StreamServer(settings).start()
    try:
        with open_stream(server.url, "leaderboard") as stream:
            lines = read_sse(stream)
            assert next(lines) == "retry: 3000"
            server.process.send_signal(signal.SIGTERM)
            # A killed process would break the chunked body (httpx raises); ours completes it.
            rest = list(lines)
        assert rest == []
        # uvicorn finishes its graceful shutdown, then re-raises the signal it caught.
        assert server.process.wait(15) in (0, -signal.SIGTERM)
    finally:
        server.__exit__()


def test_a_slow_client_is_dropped_without_delaying_a_fast_one(settings):
    env = {"LADDER_STREAM_QUEUE_SIZE": "200", "LADDER_STREAM_SEND_TIMEOUT": "2"}
    with StreamServer(settings, **env) as server:
        slow = socket.create_connection(("127.0.0.1", server.port))
        slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        slow.sendall(b"GET /v1/stream?topics=leaderboard HTTP/1.1\r\nHost: x\r\n\r\n")
        wait_until(lambda: server.metric("ladder_stream_connections") >= 1, what="the slow client")
        rss_before = server.rss_kib()
        total = 3_000
        with open_stream(server.url, "leaderboard") as stream:
            publisher = threading.Thread(
                target=publish,
                args=(settings.database_url, total),
                kwargs={"pause": 0.01, "players_per_event": 20},  # ~2 KB per event
            )
            started = time.monotonic()
            publisher.start()
            fast = events_of(stream, total)
            elapsed = time.monotonic() - started
            publisher.join()
        assert [e.id for e in fast] == list(range(1, total + 1))
        assert server.metric("ladder_stream_drops_total") >= 1
        growth_mib = (server.rss_kib() - rss_before) / 1024
        assert growth_mib < 40, f"server memory grew {growth_mib:.0f} MiB"
        assert elapsed < 60
        slow.close()


def test_an_idle_live_read_is_not_an_outage(settings):
    """With Redis healthy and no events, the hub's XREAD waits its full block and returns
    nothing: no timeout, so no fallback to Postgres (redis-py's default socket timeout of
    5 s equals the block)."""
    import asyncio

    from ladder_stream.app import stream_redis_client
    from ladder_stream.hub import BLOCK_MS

    async def idle_read() -> list:
        client = stream_redis_client(settings)
        try:
            return await client.xread({stream_key(settings): "$"}, block=BLOCK_MS)
        finally:
            await client.aclose()

    started = time.monotonic()
    assert asyncio.run(idle_read()) == []
    assert time.monotonic() - started >= BLOCK_MS / 1000 - 0.1


def test_a_full_process_answers_503_with_retry_after(settings):
    with StreamServer(settings, LADDER_STREAM_MAX_CLIENTS="2") as server:
        with open_stream(server.url, "leaderboard"), open_stream(server.url, "matches"):
            wait_until(lambda: server.metric("ladder_stream_connections") == 2, what="two")
            refused = httpx.get(f"{server.url}/v1/stream", params={"topics": "leaderboard"})
            assert refused.status_code == 503
            assert refused.headers["retry-after"] == "5"
            assert refused.headers["content-type"] == "application/problem+json"
        wait_until(lambda: server.metric("ladder_stream_connections") == 0, what="all gone")
        with open_stream(server.url, "leaderboard") as stream:
            assert stream.status_code == 200


def test_clients_that_replay_and_stop_reading_are_dropped_and_harm_no_one(settings):
    """Fifty clients ask for all history (more than the kernel's send buffers hold) and
    never read; one resumes normally."""
    env = {"LADDER_STREAM_REPLAY_SEND_TIMEOUT": "0.5", "LADDER_STREAM_REPLAY_CONCURRENCY": "4"}
    total = 10_000
    with StreamServer(settings, **env) as server:
        publish(settings.database_url, total, per_transaction=500, players_per_event=12)
        wait_published(settings.database_url, total)
        stalled = []
        for _ in range(50):
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before the handshake
            sock.connect(("127.0.0.1", server.port))
            sock.sendall(
                b"GET /v1/stream?topics=leaderboard HTTP/1.1\r\nHost: x\r\nLast-Event-ID: 0\r\n\r\n"
            )
            stalled.append(sock)
        with open_stream(server.url, "leaderboard", last_event_id=total - 100) as stream:
            assert [e.id for e in events_of(stream, 100)] == list(range(total - 99, total + 1))
        assert httpx.get(f"{server.url}/health", timeout=2).status_code == 200
        wait_until(  # each was dropped when its history would not go out
            lambda: server.metric('ladder_stream_drops_total{reason="send_timeout"}') >= 50,
            what="the stalled clients dropped",
            timeout=60,
        )
        for sock in stalled:
            sock.close()
        wait_until(lambda: server.metric("ladder_stream_connections") == 0, what="none left")


def test_a_live_reader_behind_redis_without_progress_is_reported_stalled(settings, monkeypatch):
    """The hub's follower is not started here, as if its socket were half-open: Redis
    moves on, the position does not, and after STALL_SECONDS the hub says so."""
    import asyncio

    from psycopg_pool import AsyncConnectionPool

    from ladder_stream import hub as hub_module
    from ladder_stream.app import stream_redis_client
    from ladder_stream.hub import Hub
    from ladder_stream.log import EventLog

    monkeypatch.setattr(hub_module, "STALL_SECONDS", 0.3)

    async def scenario() -> list[tuple[int, bool]]:
        pool = AsyncConnectionPool(settings.database_url, min_size=1, open=False)
        await pool.open()
        client = stream_redis_client(settings)
        hub = Hub(EventLog(client, pool, stream_key(settings)), queue_size=10)
        hub.position = await hub.log.newest_in_redis()
        seen = []
        try:
            await hub.measure_lag()
            seen.append((hub.behind, hub.stalled))
            await asyncio.to_thread(publish, settings.database_url, 5)
            await asyncio.to_thread(sweep, settings)  # into Redis, with no relay running
            for _ in range(3):
                await hub.measure_lag()
                seen.append((hub.behind, hub.stalled))
                await asyncio.sleep(0.2)
            hub.position += 5  # the reader catches up
            await hub.measure_lag()
            seen.append((hub.behind, hub.stalled))
        finally:
            await client.aclose()
            await pool.close()
        return seen

    seen = asyncio.run(scenario())
    assert seen[0] == (0, False)
    assert seen[1] == (5, False)  # behind, not yet for long
    assert seen[-2] == (5, True)  # behind without progress past the limit
    assert seen[-1] == (0, False)


def clients_served(server) -> int:
    return httpx.get(f"{server.url}/health", timeout=5).json()["clients"]


def test_a_head_request_takes_no_client_slot(settings):
    """HEAD answers headers only; a subscription behind it would never see its client
    leave (there is no body to write), and a few would fill the process for good."""
    with StreamServer(settings, LADDER_STREAM_MAX_CLIENTS="2") as server:
        for _ in range(5):
            with socket.create_connection(("127.0.0.1", server.port)) as sock:
                sock.sendall(
                    b"HEAD /v1/stream?topics=leaderboard HTTP/1.1\r\nHost: x\r\n\r\n"
                    b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
                )
                assert sock.recv(4096).startswith(b"HTTP/1.1 200")
        assert clients_served(server) == 0
        with open_stream(server.url, "leaderboard") as one, open_stream(server.url, "matches"):
            assert one.status_code == 200


def test_a_client_that_disconnects_frees_its_slot_at_once(settings):
    """Not at its next heartbeat: connect-and-close clients would keep a process full."""
    with StreamServer(settings, LADDER_STREAM_HEARTBEAT="60") as server:
        for _ in range(20):
            with socket.create_connection(("127.0.0.1", server.port)) as sock:
                sock.sendall(b"GET /v1/stream?topics=leaderboard HTTP/1.1\r\nHost: x\r\n\r\n")
                assert sock.recv(4096).startswith(b"HTTP/1.1 200")
        wait_until(lambda: clients_served(server) == 0, what="every slot freed", timeout=5)


def test_clients_dropped_by_the_hub_are_counted_out_once(settings):
    """A burst larger than a client's queue drops it (the hub unsubscribes it, then its
    stream ends): the count of clients must come back to zero, not below."""
    env = {"LADDER_STREAM_QUEUE_SIZE": "10", "LADDER_STREAM_MAX_CLIENTS": "3"}
    with StreamServer(settings, **env) as server:
        with open_stream(server.url, "leaderboard") as a, open_stream(server.url, "leaderboard"):
            wait_until(lambda: clients_served(server) == 2, what="two clients")
            # More than the sockets' buffers hold: 500 small events could drain from a
            # client's queue into its socket before the queue filled (1 run in 3).
            publish(settings.database_url, 2_000, per_transaction=500, players_per_event=20)
            assert [e.id for e in events_of(a, 1)] != []  # what fitted, then the end
            wait_until(
                lambda: server.metric('ladder_stream_drops_total{reason="queue_full"}') >= 2,
                what="both dropped",
            )
        wait_until(lambda: clients_served(server) == 0, what="none left")
        # The cap is still three.
        with (
            open_stream(server.url, "leaderboard"),
            open_stream(server.url, "matches"),
            open_stream(server.url, "leaderboard"),
        ):
            wait_until(lambda: clients_served(server) == 3, what="three clients")
            refused = httpx.get(f"{server.url}/v1/stream", params={"topics": "leaderboard"})
            assert refused.status_code == 503


def test_unknown_paths_and_methods_are_problem_json(settings):
    with StreamServer(settings) as server:
        for method, path, status in (
            ("GET", "/nowhere", 404),
            ("POST", "/v1/stream", 405),
            ("GET", "/static/missing.js", 404),
        ):
            response = httpx.request(method, f"{server.url}{path}")
            assert response.status_code == status, (method, path)
            assert response.headers["content-type"] == "application/problem+json"


def test_a_replay_read_too_slowly_is_ended_and_resumes_where_it_stopped(settings):
    """A resuming client holds a replay slot for at most the budget; ended, it resumes from
    the last id it got and misses nothing."""
    total = 6_000
    with StreamServer(settings, LADDER_STREAM_REPLAY_BUDGET="1") as server:
        publish(settings.database_url, total, per_transaction=500, players_per_event=20)
        wait_published(settings.database_url, total)
        got = []
        with open_stream(server.url, "leaderboard", last_event_id=0) as stream:
            for item in read_sse(stream):
                if isinstance(item, Sse):
                    got.append(item.id)
                    time.sleep(0.001)  # ~6 s for all of it: past the budget
        assert 0 < len(got) < total
        assert got == list(range(1, len(got) + 1))
        assert server.metric('ladder_stream_drops_total{reason="replay_budget"}') == 1
        with open_stream(server.url, "leaderboard", last_event_id=got[-1]) as stream:
            rest = [e.id for e in events_of(stream, total - len(got))]
        assert rest == list(range(len(got) + 1, total + 1))
