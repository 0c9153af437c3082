"""The cache's single flight (no stampede on a miss) and its fail-open reads, on real Redis."""

import threading
import time
import uuid

from ladder.cache import Cache
from ladder.leaderboard import leaderboard_page
from ladder.observability import metrics
from ladder.redis_clients import redis_client
from ladder.settings import Settings
from ladder_dev.local_services import free_port


def cache_at(url: str, timeout: float = 0.25, **kwargs) -> Cache:
    """A cache as `Resources` makes one, on the Redis at `url`."""
    return Cache(lambda: redis_client(Settings(REDIS_URL=url), timeout=timeout), **kwargs)


def test_concurrent_misses_compute_once_and_the_others_wait(redis_url, redis_prefix):
    cache = cache_at(redis_url, prefix=redis_prefix)
    name = f"page-{uuid.uuid4()}"
    computed, served = [], []
    start = threading.Barrier(8)

    def compute():
        computed.append(1)
        time.sleep(0.1)  # a slow query
        return {"rows": 3}

    def reader():
        start.wait()
        served.append(cache.get_or_compute(name, 60, compute))

    threads = [threading.Thread(target=reader) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(computed) == 1
    assert len(served) == 8
    assert sorted(how for _, how in served) == ["miss"] + ["waited"] * 7
    assert all(value == {"rows": 3} for value, _ in served)
    assert cache.get_or_compute(name, 60, compute) == ({"rows": 3}, "hit")
    cache.close()


def test_a_waiter_computes_itself_when_the_holder_never_delivers(redis_url, redis_prefix):
    cache = cache_at(redis_url, prefix=redis_prefix)
    name = f"page-{uuid.uuid4()}"
    cache.client.set(cache.key(f"{name}:computing"), "1", px=2000)  # a holder that died
    started = time.monotonic()
    assert cache.get_or_compute(name, 60, lambda: 42, wait=0.1) == (42, "miss")
    assert time.monotonic() - started < 1
    cache.close()


def test_reads_fail_open_while_redis_is_down():
    cache = cache_at(f"redis://127.0.0.1:{free_port()}/0", timeout=0.1, retry_after=30)
    assert cache.get_or_compute("page", 60, lambda: "from postgres") == (
        "from postgres",
        "fail-open",
    )
    assert cache.degraded
    assert cache.get_or_compute("page", 60, lambda: "again") == ("again", "fail-open")


def test_each_leaderboard_read_is_counted_by_how_it_was_served(resources):
    """Without a live rank index, Postgres answers (cached); with one, the index."""
    from ladder.rank_index import sync

    metrics.clear_metrics()
    for _ in range(2):
        leaderboard_page(resources, ladder="default", limit=10, cursor=None)
    sync.rebuild(resources, "default")
    leaderboard_page(resources, ladder="default", limit=10, cursor=None)
    counted = {name: sum(m["Value"]) for name, m in metrics.metric_set.items()}
    metrics.clear_metrics()
    assert counted["LeaderboardCacheMiss"] == 1
    assert counted["LeaderboardCacheHit"] == 1
    assert counted["RankIndexFallback"] == 2
    assert counted["RankIndexRead"] == 1
