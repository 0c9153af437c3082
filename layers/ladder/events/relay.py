"""The outbox relay: committed outbox rows → one Redis stream, gap-free and in order.

Exactly one relay leads at a time: the holder of a Postgres session advisory
lock. Every statement of the leader runs on the connection that holds the
lock, so a leader that lost its connection (and with it the lock) cannot
write anything more; standbys retry the lock every `standby_interval`.

Publishing is two-phase so that a crash at any point loses and duplicates
nothing:
1. number: the next unnumbered rows (visible = committed, in id order) get
   consecutive `seq` values after the highest one, in one transaction;
2. confirm: numbered rows not yet confirmed are XADDed with id `<seq>-0`
   (Redis refuses an id it already has, which makes a re-send after a crash
   harmless) and then marked `published_at`.

If Redis lost the stream (flush, failover, restart without persistence), the
leader re-adds the most recent window from Postgres before publishing more.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import psycopg
import redis
from psycopg.rows import dict_row

from ladder.credentials import database_conninfo
from ladder.observability import logger
from ladder.redis_clients import redis_client
from ladder.settings import Settings

RELAY_LOCK_KEY = 0x6C61646465725F72  # "ladder_r"
CHANNEL = "ladder_outbox"


@dataclass(frozen=True)
class PublishStats:
    published: int = 0
    repaired: int = 0
    lag_seconds: float | None = None  # commit → Redis for the oldest event of the pass


def stream_entry(row: dict) -> dict[str, str]:
    """The Redis stream fields of an outbox row (`data` is the payload's JSON text)."""
    return {"type": row["type"], "topics": ",".join(row["topics"]), "data": row["data"]}


# Seconds a relay call to Redis may take (a batch of XADDs): beyond, the pass fails
# and the relay starts over.
REDIS_TIMEOUT = 10.0


def stream_key(settings: Settings) -> str:
    return f"{settings.redis_prefix}{settings.stream_key}"


class Publisher:
    """Publishes through `conn`, which must hold the relay lock."""

    def __init__(self, conn: psycopg.Connection, client: redis.Redis, settings: Settings) -> None:
        self.conn = conn
        self.redis = client
        self.key = stream_key(settings)
        self.max_len = settings.stream_max_len
        self.batch_size = settings.relay_batch_size

    def publish_pending(self) -> PublishStats:
        """Repair the stream if needed, then publish until nothing is pending."""
        repaired = self.repair_stream()
        published, lag = self._confirm_numbered()
        while self._number_batch():
            count, batch_lag = self._confirm_numbered()
            published += count
            lag = batch_lag if lag is None else max(lag, batch_lag or 0)
        return PublishStats(published, repaired, lag)

    def _number_batch(self) -> int:
        with self.conn.transaction():
            cur = self.conn.execute(
                """
                WITH batch AS (
                    SELECT id FROM event_outbox WHERE seq IS NULL
                    ORDER BY id LIMIT %s FOR UPDATE
                ), numbered AS (
                    SELECT id, row_number() OVER (ORDER BY id) AS n FROM batch
                ), base AS (
                    SELECT coalesce(max(seq), 0) AS top FROM event_outbox
                )
                UPDATE event_outbox o SET seq = base.top + numbered.n
                FROM numbered, base WHERE o.id = numbered.id
                """,
                (self.batch_size,),
            )
            return cur.rowcount

    def _confirm_numbered(self) -> tuple[int, float | None]:
        total, lag = 0, None
        while True:
            rows = self.conn.execute(
                "SELECT seq, type, topics, payload::text AS data,"
                " extract(epoch FROM clock_timestamp() - created_at) AS age"
                " FROM event_outbox WHERE seq IS NOT NULL AND published_at IS NULL"
                " ORDER BY seq LIMIT %s",
                (self.batch_size,),
            ).fetchall()
            if not rows:
                return total, lag
            self._xadd(rows)
            self.conn.execute(
                "UPDATE event_outbox SET published_at = clock_timestamp() WHERE seq = ANY(%s)",
                ([row["seq"] for row in rows],),
            )
            total += len(rows)
            lag = max(lag or 0.0, float(rows[0]["age"]))

    def _xadd(self, rows: list[dict]) -> None:
        pipe = self.redis.pipeline(transaction=False)
        for row in rows:
            pipe.xadd(
                self.key,
                stream_entry(row),
                id=f"{row['seq']}-0",
                maxlen=self.max_len,
                approximate=True,
            )
        for row, result in zip(rows, pipe.execute(raise_on_error=False), strict=True):
            if isinstance(result, redis.ResponseError):
                if "equal or smaller" not in str(result):
                    raise result
                logger.debug("event already in the stream", seq=row["seq"])

    def stream_last_seq(self) -> int:
        last = self.redis.xrevrange(self.key, count=1)
        return int(last[0][0].split("-")[0]) if last else 0

    def repair_stream(self) -> int:
        """Re-add the recent window from Postgres if the stream lost its tail; return how many."""
        row = self.conn.execute(
            "SELECT seq FROM event_outbox WHERE published_at IS NOT NULL ORDER BY seq DESC LIMIT 1"
        ).fetchone()
        confirmed = row["seq"] if row else 0
        have = self.stream_last_seq()
        if have >= confirmed:
            return 0
        start = max(have, confirmed - self.max_len) + 1
        logger.warning("redis lost stream events; rebuilding", from_seq=start, to_seq=confirmed)
        added = 0
        while start <= confirmed:
            rows = self.conn.execute(
                "SELECT seq, type, topics, payload::text AS data FROM event_outbox"
                " WHERE seq BETWEEN %s AND %s ORDER BY seq LIMIT %s",
                (start, confirmed, self.batch_size),
            ).fetchall()
            if not rows:
                break
            self._xadd(rows)
            added += len(rows)
            start = rows[-1]["seq"] + 1
        return added


def _connect(settings: Settings) -> psycopg.Connection:
    return psycopg.connect(
        database_conninfo(settings.relay_database_url or settings.database_url, settings),
        autocommit=True,
        row_factory=dict_row,
        application_name=f"ladder-relay-{os.getpid()}",
        connect_timeout=5,
    )


def _try_lock(conn: psycopg.Connection) -> bool:
    return conn.execute("SELECT pg_try_advisory_lock(%s) AS ok", (RELAY_LOCK_KEY,)).fetchone()["ok"]


class Relay:
    """A relay candidate: leads while it holds the lock, else stands by."""

    def __init__(
        self,
        settings: Settings,
        *,
        on_publish: Callable[[PublishStats], None] | None = None,
        on_restart: Callable[[], None] | None = None,
        standby_interval: float = 1.0,
    ) -> None:
        self.settings = settings
        self.on_publish = on_publish
        self.on_restart = on_restart
        self.standby_interval = standby_interval
        self.leading = threading.Event()

    def run(self, stop: threading.Event) -> None:
        """Campaign, lead and recover until `stop` is set: whatever ends a pass (a lost
        connection, or anything else), the relay logs it, counts it and starts over,
        so the thread never ends while the process runs."""
        client = redis_client(self.settings, timeout=REDIS_TIMEOUT)
        while not stop.is_set():
            try:
                with _connect(self.settings) as conn:
                    while not stop.is_set():
                        if _try_lock(conn):
                            self._lead(conn, client, stop)
                        else:
                            stop.wait(self.standby_interval)
            except (psycopg.Error, redis.RedisError) as exc:
                logger.warning("relay interrupted; retrying", error=str(exc))
                self._restarted(stop)
            except Exception:
                logger.exception("relay failed; restarting")
                self._restarted(stop)
            finally:
                self.leading.clear()
        client.close()

    def _restarted(self, stop: threading.Event) -> None:
        if self.on_restart:
            self.on_restart()
        stop.wait(1.0)

    def _lead(self, conn: psycopg.Connection, client: redis.Redis, stop: threading.Event) -> None:
        logger.info("relay leading", pid=os.getpid())
        self.leading.set()
        conn.execute(f"LISTEN {CHANNEL}")
        publisher = Publisher(conn, client, self.settings)
        while not stop.is_set():
            stats = publisher.publish_pending()
            if self.on_publish and (stats.published or stats.repaired):
                self.on_publish(stats)
            _wait_for_notify(conn, stop, self.settings.relay_poll_interval)


def _wait_for_notify(conn: psycopg.Connection, stop: threading.Event, timeout: float) -> None:
    """Sleep until a commit NOTIFYs, `stop` is set, or `timeout` passes (the polling fallback)."""
    deadline = time.monotonic() + timeout
    while not stop.is_set() and (left := deadline - time.monotonic()) > 0:
        for _ in conn.notifies(timeout=min(left, 0.5), stop_after=1):
            return


def sweep(settings: Settings) -> PublishStats | None:
    """Publish leftovers if no relay is running (the scheduled backstop); None if one is."""
    started = time.monotonic()
    with _connect(settings) as conn:
        if not _try_lock(conn):
            return None
        client = redis_client(settings, timeout=REDIS_TIMEOUT)
        try:
            stats = Publisher(conn, client, settings).publish_pending()
        finally:
            client.close()
            conn.execute("SELECT pg_advisory_unlock(%s)", (RELAY_LOCK_KEY,))
    logger.info(
        "outbox sweep", published=stats.published, seconds=round(time.monotonic() - started, 3)
    )
    return stats
