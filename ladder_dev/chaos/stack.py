"""A disposable local ladder stack that drills may break, and the clients that load it.

It runs the same parts as `make dev`, each as its own process where AWS runs
it separately: a scratch database on the local Postgres, a private
`redis-server` (so a drill can stop and start it), an in-process moto server
(SQS, S3), the API (`uvicorn`, as Lambda would run the app), one or more
stream services (each with a relay), and a job worker calling the jobs
Lambda's handler. Everything listens on 127.0.0.1 and is torn down on exit,
so a drill never touches the developer's own `make dev` stack.
"""

from __future__ import annotations

import itertools
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter, defaultdict
from contextlib import ExitStack
from dataclasses import dataclass, field

import httpx
import psycopg

from ladder.auth import issue_dev_token
from ladder.settings import DEV_JWT_SECRET, Settings
from ladder_dev.chaos.faultproxy import FaultProxy
from ladder_dev.local_services import (
    RedisProcess,
    any_postgres,
    free_port,
    scratch_database,
    wait_until,
)
from ladder_dev.streaming import REPO, Sse, StreamServer, open_stream, read_sse


class ApiServer:
    """The API app under uvicorn in its own process (`create_app()` from the environment)."""

    def __init__(self, env: dict[str, str]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = env
        self.process: subprocess.Popen | None = None

    def start(self) -> ApiServer:
        self.process = subprocess.Popen(
            [
                *(sys.executable, "-m", "uvicorn", "--factory", "ladder.api.app:create_app"),
                *("--host", "127.0.0.1", "--port", str(self.port), "--log-level", "warning"),
            ],
            cwd=REPO,
            env=self.env,
            stdout=subprocess.DEVNULL,
        )

        def healthy() -> bool:
            if self.process.poll() is not None:
                raise RuntimeError("the API process exited")
            try:
                return httpx.get(f"{self.url}/health", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(healthy, what="API start")
        return self

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(20)


class DrillStack:
    """Start with `with DrillStack(streams=2) as stack:`; every part is stopped on exit."""

    def __init__(self, *, streams: int = 1, worker: bool = True, proxied: bool = False) -> None:
        """`proxied`: the API, stream services and worker reach Postgres and Redis through
        fault proxies (`postgres_proxy`, `redis_proxy`) a drill can partition."""
        self.stream_count = streams
        self.with_worker = worker
        self.proxied = proxied
        self._exit = ExitStack()

    def __enter__(self) -> DrillStack:
        try:
            self._start()
        except BaseException:
            self._exit.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self._exit.close()

    def _start(self) -> None:
        import boto3
        from moto.server import ThreadedMotoServer

        from ladder.settings import get_settings

        # The worker and the fake AWS credentials change this process's environment;
        # put it back on exit so nothing else sees the drill's stack.
        saved = dict(os.environ)
        self._exit.callback(get_settings.cache_clear)
        self._exit.callback(lambda: (os.environ.clear(), os.environ.update(saved)))

        from ladder.maintenance import prepare_database
        from ladder_dev.dev import FAKE_AWS_CREDENTIALS, create_aws_resources

        server = self._exit.enter_context(any_postgres())
        self.database_url = self._exit.enter_context(scratch_database(server, "chaos"))
        self.redis = RedisProcess().start()
        self._exit.callback(self.redis.stop)
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's request log
        os.environ.update(FAKE_AWS_CREDENTIALS)  # moto accepts anything; boto3 wants some
        moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        moto.start()
        self._exit.callback(moto.stop)
        host, port = moto.get_host_and_port()
        self.aws_endpoint = f"http://{host}:{port}"
        # moto keeps its state per process, not per server: names of our own keep
        # one drill's messages and backups out of the next one's.
        tag = uuid.uuid4().hex[:8]
        queues = create_aws_resources(
            self.aws_endpoint, queue=f"chaos-jobs-{tag}", dlq=f"chaos-jobs-dlq-{tag}"
        )
        bucket = f"chaos-backups-{tag}"
        boto3.client("s3", endpoint_url=self.aws_endpoint).create_bucket(Bucket=bucket)
        queues["LADDER_BACKUP_BUCKET"] = bucket
        database_url, redis_url = self.database_url, self.redis.url
        if self.proxied:
            server_params = psycopg.conninfo.conninfo_to_dict(self.database_url)
            self.postgres_proxy = self._exit.enter_context(
                FaultProxy(
                    server_params.get("host") or "127.0.0.1", int(server_params.get("port") or 5432)
                )
            )
            self.redis_proxy = self._exit.enter_context(FaultProxy("127.0.0.1", self.redis.port))
            database_url = psycopg.conninfo.make_conninfo(
                self.database_url, host="127.0.0.1", port=str(self.postgres_proxy.port)
            )
            redis_url = f"redis://127.0.0.1:{self.redis_proxy.port}/0"
        self.env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "AWS_ENDPOINT_URL": self.aws_endpoint,
            "LADDER_RELAY_POLL_INTERVAL": "0.2",
            "POWERTOOLS_METRICS_DISABLED": "true",  # no EMF lines on the drill's console
            **queues,
        }
        self.settings = Settings(
            DATABASE_URL=self.database_url,
            REDIS_URL=self.redis.url,
            AWS_ENDPOINT_URL=self.aws_endpoint,
            jobs_queue_url=queues["LADDER_JOBS_QUEUE_URL"],
            jobs_dlq_url=queues["LADDER_JOBS_DLQ_URL"],
            backup_bucket=bucket,
        )
        prepare_database(self.settings)
        self.api = ApiServer(self.env).start()
        self._exit.callback(self.api.stop)
        self.streams = []
        for _ in range(self.stream_count):
            stream = StreamServer(self.settings, **self.env).start()
            self._exit.callback(stream.__exit__)
            self.streams.append(stream)
        if self.with_worker:
            self._start_worker()

    def _start_worker(self) -> None:
        import importlib

        import boto3

        import functions.jobs
        from ladder.settings import get_settings
        from ladder_dev.local_worker import run_worker

        # The jobs Lambda's handler builds its resources from the environment at import.
        os.environ.update(self.env)
        get_settings.cache_clear()
        jobs = importlib.reload(functions.jobs)
        self._exit.callback(jobs.resources.close)
        stop = threading.Event()
        client = boto3.client("sqs", endpoint_url=self.aws_endpoint)
        self.worker_errors: list[str] = []
        thread = threading.Thread(
            target=run_worker,
            args=(client, self.settings.jobs_queue_url, jobs.handler, stop),
            kwargs={"on_error": lambda message: self.worker_errors.append(str(message))},
            daemon=True,
        )
        thread.start()
        self._exit.callback(thread.join, 10)
        self._exit.callback(stop.set)

    def token(self, *scopes: str) -> dict[str, str]:
        token = issue_dev_token(DEV_JWT_SECRET, list(scopes or ("ladder:write",)), subject="chaos")
        return {"Authorization": f"Bearer {token}"}

    def sql(self, query: str, params=()) -> list[tuple]:
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            cur = conn.execute(query, params)
            return cur.fetchall() if cur.description else []

    def wait_published(self, timeout: float = 60) -> None:
        """Until the relay (or a sweep) has published every committed event."""
        query = "SELECT count(*) FROM event_outbox WHERE seq IS NULL"
        wait_until(
            lambda: self.sql(query)[0][0] == 0, what="every event published", timeout=timeout
        )


@dataclass
class RouteStats:
    latencies: list[float] = field(default_factory=list)
    statuses: Counter = field(default_factory=Counter)


class Workload:
    """Game servers and readers: `writers` threads report up to `matches` matches
    among `players` players (each with an Idempotency-Key, retried with the same key
    until acknowledged), and stop starting new ones after `duration` seconds if given;
    `readers` threads read the leaderboard, players and their history until then."""

    def __init__(
        self,
        stack: DrillStack,
        *,
        players: int = 20,
        matches: int = 300,
        writers: int = 4,
        readers: int = 2,
        pause: float = 0.0,
        read_pause: float = 0.0,
        deadline: float = 120.0,
        duration: float | None = None,
    ) -> None:
        self.stack = stack
        self.players_wanted = players
        self.matches = matches
        self.writers = writers
        self.readers = readers
        self.pause = pause
        self.read_pause = read_pause
        self.deadline = deadline
        self.duration = duration
        self.attempted = 0  # matches a writer started to report
        self.routes: dict[str, RouteStats] = defaultdict(RouteStats)
        self.acknowledged: set[str] = set()  # match ids the API answered 201/200 for
        self.in_flight = 0
        self.first_attempt_failures: Counter = Counter()
        self._lock = threading.Lock()
        self._next = itertools.count()
        self._done = threading.Event()
        self.run_id = uuid.uuid4().hex[:8]

    def _call(self, client: httpx.Client, route: str, method: str, url: str, **kwargs):
        with self._lock:
            self.in_flight += 1
        started = time.perf_counter()
        try:
            response = client.request(method, url, **kwargs)
            status = response.status_code
            return response
        except httpx.HTTPError as exc:
            status = type(exc).__name__
            return None
        finally:
            elapsed = time.perf_counter() - started
            with self._lock:
                self.in_flight -= 1
                stats = self.routes[route]
                stats.latencies.append(elapsed)
                stats.statuses[status] += 1

    def setup(self) -> None:
        with httpx.Client(base_url=self.stack.api.url, timeout=10) as client:
            self.players = []
            for i in range(self.players_wanted):
                response = client.post(
                    "/v1/players",
                    json={"handle": f"chaos_{self.run_id}_{i}", "display_name": f"Chaos {i}"},
                    headers=self.stack.token(),
                )
                response.raise_for_status()
                self.players.append(response.json()["id"])

    def _writer(self) -> None:
        headers = self.stack.token()
        end = time.monotonic() + self.deadline
        with httpx.Client(base_url=self.stack.api.url, timeout=10) as client:
            while not self._expired() and (i := next(self._next)) < self.matches:
                with self._lock:
                    self.attempted += 1
                a = self.players[i % len(self.players)]
                b = self.players[(i * 7 + 1 + i // len(self.players)) % len(self.players)]
                if a == b:
                    b = self.players[(self.players.index(a) + 1) % len(self.players)]
                body = {"player_a": a, "player_b": b, "score_a": (0, 0.5, 1)[i % 3]}
                key = {"Idempotency-Key": f"chaos-{self.run_id}-{i}"}
                first = True
                while time.monotonic() < end:
                    response = self._call(
                        client,
                        "POST /v1/matches",
                        "POST",
                        "/v1/matches",
                        json=body,
                        headers={**headers, **key},
                    )
                    if response is not None and response.status_code in (200, 201):
                        with self._lock:
                            self.acknowledged.add(response.json()["id"])
                        break
                    if first:
                        with self._lock:
                            self.first_attempt_failures[
                                response.status_code if response is not None else "transport"
                            ] += 1
                        first = False
                    time.sleep(0.1)  # then retry with the same key, as a client should
                if self.pause:
                    time.sleep(self.pause)

    def _expired(self) -> bool:
        return self.duration is not None and time.monotonic() - self.started > self.duration

    def _reader(self, n: int) -> None:
        with httpx.Client(base_url=self.stack.api.url, timeout=10) as client:
            for i in itertools.count():
                if self._done.is_set():
                    return
                player = self.players[(n + i) % len(self.players)]
                if i % 4 == 1:
                    self._call(client, "GET /v1/players/{id}", "GET", f"/v1/players/{player}")
                elif i % 4 == 3:
                    self._call(
                        client,
                        "GET /v1/players/{id}/ratings",
                        "GET",
                        f"/v1/players/{player}/ratings",
                    )
                else:
                    self._call(client, "GET /v1/leaderboard", "GET", "/v1/leaderboard")
                if self.read_pause:
                    time.sleep(self.read_pause)

    def start(self) -> Workload:
        self.setup()
        self.started = time.monotonic()
        self._threads = [threading.Thread(target=self._writer) for _ in range(self.writers)]
        self._reader_threads = [
            threading.Thread(target=self._reader, args=(n,)) for n in range(self.readers)
        ]
        for thread in self._threads + self._reader_threads:
            thread.start()
        return self

    def reads_ok(self) -> int:
        with self._lock:
            return sum(s.statuses[200] for r, s in self.routes.items() if r.startswith("GET"))

    def written(self) -> int:
        with self._lock:
            return len(self.acknowledged)

    def join(self) -> None:
        for thread in self._threads:
            thread.join()
        self._done.set()
        for thread in self._reader_threads:
            thread.join()

    def server_errors(self) -> int:
        return sum(
            count
            for stats in self.routes.values()
            for status, count in stats.statuses.items()
            if isinstance(status, str) or status >= 500
        )


class Subscriber(threading.Thread):
    """An SSE client that follows `topics`, resuming with Last-Event-ID on the next
    URL whenever its connection breaks (as ladder-stream.js does)."""

    def __init__(self, urls: list[str], topics: str = "matches,leaderboard") -> None:
        super().__init__(daemon=True)
        self.urls = urls
        self.topics = topics
        self.ids: list[int] = []
        self.resets = 0
        self.reconnects = 0
        self.connected = threading.Event()
        self._stop = threading.Event()

    def run(self) -> None:
        last_id: int | None = None
        for url in itertools.cycle(self.urls):
            if self._stop.is_set():
                return
            try:
                with open_stream(url, self.topics, last_id) as response:
                    if response.status_code != 200:
                        raise httpx.HTTPStatusError("not 200", request=None, response=response)
                    self.connected.set()
                    for item in read_sse(response):
                        if self._stop.is_set():
                            return
                        if isinstance(item, Sse) and item.id is not None:
                            if item.event == "reset":
                                self.resets += 1
                            else:
                                self.ids.append(item.id)
                            last_id = item.id
            except (httpx.HTTPError, httpx.StreamError):
                pass
            if self._stop.is_set():
                return
            self.reconnects += 1
            time.sleep(0.2)

    def stop(self) -> None:
        self._stop.set()

    def wait_for(self, expected: list[int], timeout: float = 60) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if set(self.ids) >= set(expected):
                return True
            time.sleep(0.1)
        return False


def expected_events(stack: DrillStack, topics: frozenset[str]) -> list[int]:
    """Sequence numbers of every committed event on any of `topics`."""
    rows = stack.sql(
        "SELECT seq FROM event_outbox WHERE topics && %s AND seq IS NOT NULL ORDER BY seq",
        (list(topics),),
    )
    return [seq for (seq,) in rows]


def ratings_equal_replay(stack: DrillStack) -> tuple[bool, float]:
    """Every player's rating and games equal a replay of the non-voided matches."""
    from ladder.ratings.elo import RatingRules, replay

    matches = stack.sql(
        "SELECT player_a, player_b, score_a FROM matches WHERE NOT voided ORDER BY played_at, seq"
    )
    expected = replay(
        ((a, b, float(s)) for a, b, s in matches), RatingRules.from_settings(stack.settings)
    )
    stored = {
        pid: (rating, games)
        for pid, rating, games in stack.sql(
            "SELECT player_id, rating, games FROM standings WHERE ladder_id = 1"
        )
    }
    worst = 0.0
    for pid, (rating, games) in stored.items():
        standing = expected.get(pid)
        want = (standing.rating, standing.games) if standing else (stack.settings.rating_initial, 0)
        if games != want[1]:
            return False, float("inf")
        worst = max(worst, abs(rating - want[0]))
    return worst < 1e-6, worst
