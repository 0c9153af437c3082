"""The relay: one leader, gap-free and duplicate-free publishing through crashes."""

import importlib
import json
import signal
import threading
import time

import psycopg
import pytest
import redis
from psycopg.rows import dict_row

from ladder.events.relay import Publisher, Relay, stream_key, sweep
from ladder_dev.local_services import wait_until
from ladder_dev.streaming import StreamServer, publish, wait_published

pytestmark = pytest.mark.usefixtures("clean_state")


def assert_log_is_whole(settings, total: int) -> None:
    """Postgres numbered 1..total once each; Redis holds exactly those, same content."""
    with psycopg.connect(settings.database_url, row_factory=dict_row) as conn:
        rows = conn.execute(
            "SELECT seq, type, payload::text AS data FROM event_outbox ORDER BY seq"
        ).fetchall()
    assert [r["seq"] for r in rows] == list(range(1, total + 1))
    entries = redis.Redis.from_url(settings.redis_url, decode_responses=True).xrange(
        stream_key(settings)
    )
    assert [e[0] for e in entries] == [f"{seq}-0" for seq in range(1, total + 1)]
    assert [e[1]["data"] for e in entries] == [r["data"] for r in rows]


def relay_leader_pid(database_url: str) -> int | None:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a USING (pid)"
            " WHERE l.locktype = 'advisory' AND l.granted AND a.datname = current_database()"
            " AND a.application_name LIKE 'ladder-relay-%'"
        ).fetchone()
    return int(row[0].rsplit("-", 1)[1]) if row else None


def test_killing_the_leader_mid_batch_hands_over_without_gap_or_duplicate(settings):
    total = 6_000
    env = {"LADDER_RELAY_BATCH_SIZE": "100"}
    with StreamServer(settings, **env) as one, StreamServer(settings, **env) as two:
        deadline = time.monotonic() + 10
        while (leader_pid := relay_leader_pid(settings.database_url)) is None:
            assert time.monotonic() < deadline, "no relay took the lead"
            time.sleep(0.1)
        leader, standby = (one, two) if leader_pid == one.pid else (two, one)
        publisher = threading.Thread(
            target=publish, args=(settings.database_url, total), kwargs={"pause": 0.002}
        )
        publisher.start()
        wait_published(settings.database_url, 1_500)
        leader.stop(signal.SIGKILL)  # no goodbye: its connection, and lock, just vanish
        publisher.join()
        wait_published(settings.database_url, total, timeout=60)
        assert relay_leader_pid(settings.database_url) == standby.pid
    assert_log_is_whole(settings, total)


def test_a_crash_between_numbering_and_confirming_is_finished_by_the_next_leader(settings):
    publish(settings.database_url, 250)
    client = redis.Redis.from_url(settings.redis_url, decode_responses=True)
    crashed = psycopg.connect(settings.database_url, autocommit=True, row_factory=dict_row)
    first = Publisher(crashed, client, settings.model_copy(update={"relay_batch_size": 100}))
    assert first._number_batch() == 100
    first._xadd(  # part of the batch reached Redis before the crash
        crashed.execute(
            "SELECT seq, type, topics, payload::text AS data FROM event_outbox"
            " WHERE seq <= 40 ORDER BY seq"
        ).fetchall()
    )
    crashed.close()

    with psycopg.connect(settings.database_url, autocommit=True, row_factory=dict_row) as conn:
        stats = Publisher(conn, client, settings).publish_pending()
    assert stats.published == 250
    assert_log_is_whole(settings, 250)


def test_redis_losing_the_stream_is_repaired_from_postgres(settings):
    publish(settings.database_url, 300)
    client = redis.Redis.from_url(settings.redis_url, decode_responses=True)
    with psycopg.connect(settings.database_url, autocommit=True, row_factory=dict_row) as conn:
        publisher = Publisher(conn, client, settings)
        publisher.publish_pending()
        client.delete(stream_key(settings))
        publish(settings.database_url, 50)
        stats = publisher.publish_pending()
    assert (stats.repaired, stats.published) == (300, 50)
    assert_log_is_whole(settings, 350)


def test_the_sweeper_publishes_when_no_relay_runs_and_yields_to_one_that_does(settings):
    publish(settings.database_url, 120)
    assert sweep(settings).published == 120
    assert_log_is_whole(settings, 120)

    stop = threading.Event()
    relay = Relay(settings)
    thread = threading.Thread(target=relay.run, args=(stop,))
    thread.start()
    try:
        assert relay.leading.wait(10)
        assert sweep(settings) is None
    finally:
        stop.set()
        thread.join(10)


def test_a_relay_wakes_on_commit_without_waiting_for_its_poll(settings):
    slow_poll = settings.model_copy(update={"relay_poll_interval": 30.0})
    stop = threading.Event()
    relay = Relay(slow_poll)
    thread = threading.Thread(target=relay.run, args=(stop,))
    thread.start()
    try:
        assert relay.leading.wait(10)
        publish(settings.database_url, 5)
        wait_published(settings.database_url, 5, timeout=5)  # NOTIFY, not the 30 s poll
    finally:
        stop.set()
        thread.join(40)


def test_the_scheduled_sweeper_lambda_publishes_leftovers(settings, store, monkeypatch, capsys):
    from functions import sweeper
    from ladder.settings import get_settings
    from ladder_dev.local_services import LambdaContext

    for name, value in {
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.redis_url,
        "LADDER_REDIS_PREFIX": settings.redis_prefix,
        "AWS_ENDPOINT_URL": settings.aws_endpoint_url,
        "LADDER_BACKUP_BUCKET": store.bucket,
    }.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    sweeper = importlib.reload(sweeper)
    try:
        publish(settings.database_url, 30)
        event = {"source": "aws.scheduler", "detail": {}}
        result = sweeper.handler(event, LambdaContext("ladder-sweeper"))
        # No rank index yet: the reconciliation asked the worker to build one.
        reconciled = result.pop("ranks_reconciled")
        assert [(r["ladder"], r["drift"]) for r in reconciled] == [("default", None)]
        assert reconciled[0]["rebuild_job"]
        assert result == {
            "swept": True,
            "published": 30,
            "repaired": 0,
            "jobs_dispatched": 0,
            "jobs_abandoned": 0,
            "idempotency_pruned": 0,
            "season_jobs": 0,
        }
        assert_log_is_whole(settings, 30)
        # With a backup in the bucket, the sweeper reports its age for the alarm.
        from ladder.backup.dump import create_backup

        create_backup(settings.database_url, store)
        capsys.readouterr()
        sweeper.handler(event, LambdaContext("ladder-sweeper"))
        (emf,) = [
            json.loads(line)
            for line in capsys.readouterr().out.splitlines()
            if '"BackupAgeSeconds"' in line
        ]
        assert 0 <= emf["BackupAgeSeconds"][0] < 60
    finally:
        sweeper.resources.close()
        get_settings.cache_clear()


def test_a_relay_pass_ended_by_any_error_is_counted_and_restarted(settings):
    """Before, only psycopg and Redis errors were retried: anything else ended the relay
    thread silently while the process stayed healthy."""
    restarts, calls = [], []

    def flaky_metrics(stats) -> None:
        calls.append(stats)
        if len(calls) == 1:
            raise RuntimeError("a metrics backend hiccup")

    stop = threading.Event()
    relay = Relay(settings, on_publish=flaky_metrics, on_restart=lambda: restarts.append(1))
    thread = threading.Thread(target=relay.run, args=(stop,))
    thread.start()
    try:
        assert relay.leading.wait(10)
        publish(settings.database_url, 10)
        wait_published(settings.database_url, 10)
        wait_until(lambda: len(restarts) == 1, what="the restart")
        publish(settings.database_url, 10)
        wait_published(settings.database_url, 20)  # the restarted relay publishes on
        assert thread.is_alive()
    finally:
        stop.set()
        thread.join(10)
    assert restarts == [1]
    assert_log_is_whole(settings, 20)
