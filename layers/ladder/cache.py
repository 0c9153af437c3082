"""Redis as a cache that fails open.

Every call is bounded by a short timeout; after a failure Redis is bypassed
for `redis_retry_after` seconds so that a dead cache costs one timeout, not
one per request. Callers get `None`/no-op instead of an exception and serve
from Postgres; every outcome is counted.

The circuit is a few lines written here because redis-py's Retry/Backoff
retries a call but has no "stop trying for a while" state.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

import redis

from ladder.observability import MetricUnit, logger, metrics

STAMPEDE_WAIT = 0.25  # seconds a caller waits for another's computation on a miss
LOCK_MS = 2000  # the single-flight lock expires by itself if its holder dies


class Cache:
    def __init__(
        self,
        connect: Callable[[], redis.Redis],
        *,
        prefix: str = "ladder:",
        retry_after: float = 5.0,
    ) -> None:
        """`connect` makes the client on first use (`ladder.redis_clients`), so a cold
        start that never touches the cache fetches no AUTH token."""
        self._connect = connect
        self.prefix = prefix
        self._retry_after = retry_after
        self._client: redis.Redis | None = None
        self._bypass_until = 0.0
        self._lock = threading.Lock()

    @property
    def client(self) -> redis.Redis:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    self._client = self._connect()
        return self._client

    def key(self, name: str) -> str:
        return f"{self.prefix}{name}"

    @property
    def degraded(self) -> bool:
        """True while Redis is being bypassed after a failure (reads fail open)."""
        return time.monotonic() < self._bypass_until

    def call(self, op: str, fn, *args, **kwargs) -> Any:
        """`fn(*args, **kwargs)`, or None (counted, and Redis bypassed for a while) if
        Redis fails or is being bypassed."""
        if self.degraded:
            metrics.add_metric(name="CacheBypassed", unit=MetricUnit.Count, value=1)
            return None
        return self.call_always(op, fn, *args, **kwargs)

    def call_always(self, op: str, fn, *args, **kwargs) -> Any:
        """As `call`, but tried even while Redis is bypassed: for a repair that must not
        be skipped because an earlier call just failed (dropping an index that missed a
        write)."""
        try:
            return fn(*args, **kwargs)
        except redis.RedisError as exc:
            self._bypass_until = time.monotonic() + self._retry_after
            metrics.add_metric(name="CacheErrors", unit=MetricUnit.Count, value=1)
            logger.warning("redis unavailable; serving without cache", operation=op, error=str(exc))
            return None

    def get_json(self, name: str) -> Any | None:
        raw = self.call("get", self.client.get, self.key(name))
        return None if raw is None else json.loads(raw)

    def set_json(self, name: str, value: Any, ttl: int) -> None:
        self.call("set", self.client.set, self.key(name), json.dumps(value), ttl)

    def get_int(self, name: str) -> int | None:
        raw = self.call("get", self.client.get, self.key(name))
        return None if raw is None else int(raw)

    def incr(self, name: str) -> int | None:
        return self.call("incr", self.client.incr, self.key(name))

    def get_or_compute(
        self, name: str, ttl: int, compute: Callable[[], Any], *, wait: float = STAMPEDE_WAIT
    ) -> tuple[Any, str]:
        """Cache-aside with a single flight: the value and how it was served.

        On a miss, one caller takes a short lock and computes while the others
        wait up to `wait` seconds for its value ("waited") instead of all
        querying Postgres at once (a stampede, e.g. right after an invalidation).
        A waiter that times out, or any caller while Redis fails ("fail-open"),
        computes the value itself: the lock only ever saves work.
        """
        cached = self.get_json(name)
        if cached is not None:
            return cached, "hit"
        if self.degraded:
            return compute(), "fail-open"
        lock = f"{name}:computing"
        won = self.call("lock", self.client.set, self.key(lock), "1", nx=True, px=LOCK_MS)
        if won is None and not self.degraded:  # another caller is computing it
            deadline = time.monotonic() + wait
            pause = 0.002  # a page takes milliseconds to compute: look soon, then less often
            while time.monotonic() < deadline:
                time.sleep(pause)
                pause = min(pause * 2, 0.02)
                cached = self.get_json(name)
                if cached is not None:
                    return cached, "waited"
        value = compute()
        self.set_json(name, value, ttl)
        if won:
            self.call("unlock", self.client.delete, self.key(lock))
        return value, "miss"

    def ping(self) -> None:
        """Raise if Redis does not answer (for readiness; ignores the bypass)."""
        self.client.ping()

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None
