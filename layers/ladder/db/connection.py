"""Connections made for Lambda behind RDS Proxy, and for long-running processes.

- The pool is created lazily on first use (never at import, never in a Mangum
  lifespan), so a cold start that serves /health opens no connection.
- `prepare_threshold=None` and no per-session `SET`: nothing pins a proxied
  connection.
- Each unit of work runs in one transaction; if the connection turns out to be
  dead (the proxy or server dropped it while the environment was frozen), the
  pool's idle connections are checked and the work is retried once on a live
  one. A connection lost during COMMIT leaves unknown whether the first attempt
  committed, and the retry runs the work again. A write sent with an
  Idempotency-Key then answers with the response the committed attempt stored
  (match reports always carry one). Without a key, the retry may fail on what
  the first attempt did (409: the handle taken, the match already voided), or
  answer with the job the first attempt queued (a recalculation or backup).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool, PoolTimeout

from ladder.credentials import database_conninfo
from ladder.db.errors import DatabaseUnavailable
from ladder.observability import logger

T = TypeVar("T")


def _lost(conn: psycopg.Connection) -> bool:
    """The connection is dead. psycopg marks it `broken` when a call notices, but a
    connection killed during a pipeline (executemany) can surface first as "cannot
    exit pipeline mode" with only libpq's status saying so."""
    return conn.broken or conn.pgconn.status == psycopg.pq.ConnStatus.BAD


class Database:
    """A lazily opened connection pool with transactional units of work."""

    def __init__(self, url: str, *, pool_size: int = 4, timeout: float = 5.0) -> None:
        self.url = url
        self._pool_size = pool_size
        self._timeout = timeout
        self._pool: ConnectionPool | None = None
        self._lock = threading.Lock()

    @property
    def pool(self) -> ConnectionPool:
        if self._pool is None:
            with self._lock:
                if self._pool is None:
                    self._pool = ConnectionPool(
                        # A callable: each new connection gets a fresh IAM token.
                        lambda: database_conninfo(self.url),
                        min_size=0,
                        max_size=self._pool_size,
                        timeout=self._timeout,
                        kwargs={
                            "autocommit": True,
                            "prepare_threshold": None,
                            "row_factory": dict_row,
                            "connect_timeout": max(1, int(self._timeout)),
                        },
                        name="ladder",
                        open=True,
                    )
        return self._pool

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection]:
        """A pooled autocommit connection (for work that manages its own transactions)."""
        try:
            with self.pool.connection() as conn:
                yield conn
        except PoolTimeout as exc:
            raise DatabaseUnavailable(str(exc)) from exc

    def run(self, work: Callable[[psycopg.Connection], T], *, snapshot: bool = False) -> T:
        """Run `work(conn)` in one transaction, retrying once on a dead connection.

        `snapshot`: a REPEATABLE READ READ ONLY transaction, for reads that must see one
        state across statements (a row and a count of the rows above it). Set as BEGIN
        options, not SET statements, so an RDS Proxy connection is not pinned."""
        for attempt in (1, 2):
            conn: psycopg.Connection | None = None
            try:
                with self.connection() as conn:
                    if snapshot:
                        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
                        conn.read_only = True
                    try:
                        with conn.transaction():
                            return work(conn)
                    finally:
                        if snapshot:
                            conn.isolation_level, conn.read_only = None, None
            except psycopg.OperationalError as exc:
                if conn is None or not _lost(conn):
                    raise  # a statement failed; the connection is fine
                if attempt == 2:
                    raise DatabaseUnavailable(str(exc)) from exc
                logger.warning("database connection lost; retrying on a new one", exc_info=exc)
                # When one pooled connection died the others usually did too (a
                # failover, a restart, terminated backends): test them all now, so
                # the retry gets a live one instead of the next dead one.
                self.pool.check()
        raise AssertionError("unreachable")

    def ping(self) -> None:
        self.run(lambda conn: conn.execute("SELECT 1"))

    def close(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.close()
                self._pool = None
