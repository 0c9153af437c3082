"""API benchmarks: cold import, and the Lambda handler's overhead over bare ASGI."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from contextlib import ExitStack

from ladder_dev.bench import REPO, Result

FRAMEWORKS = (
    "import fastapi, mangum, psycopg, redis;"
    " import aws_lambda_powertools.logging, aws_lambda_powertools.metrics"
)


def _import_seconds(statement: str) -> float:
    code = f"import time; t = time.perf_counter(); {statement}; print(time.perf_counter() - t)"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    return float(out.stdout.strip().splitlines()[-1])


def bench_cold_import(rounds: int = 9) -> Result:
    ours, frameworks = [], []
    for _ in range(rounds):  # interleaved, so drift in machine load hits both alike
        frameworks.append(_import_seconds(FRAMEWORKS))
        ours.append(_import_seconds("import functions.api"))
    value, base = statistics.median(ours) * 1000, statistics.median(frameworks) * 1000
    return Result(
        "cold import functions.api", value, "ms", "frameworks alone", base, value / base, 1.3
    )


def _paired(a: Callable[[], object], b: Callable[[], object], *, batches=7, per_batch=60):
    """Median seconds per call of `a` and `b`, measured in alternating batches."""
    for _ in range(20):
        a(), b()
    times_a, times_b = [], []
    for _ in range(batches):
        for fn, sink in ((a, times_a), (b, times_b)):
            start = time.perf_counter()
            for _ in range(per_batch):
                fn()
            sink.append((time.perf_counter() - start) / per_batch)
    return statistics.median(times_a), statistics.median(times_b)


class AsgiDriver:
    """Calls an ASGI app with one HTTP request, as a server would, minus the socket."""

    def __init__(self, app) -> None:
        self.app = app
        self.loop = asyncio.new_event_loop()

    def __call__(self, method: str, path: str, body: bytes = b"", headers=None):
        """The response's (status, body)."""
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": "https",
            "path": path,
            "raw_path": path.encode(),
            "root_path": "",
            "query_string": b"",
            "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
            "server": ("api.example", 443),
            "client": ("203.0.113.7", 0),
        }
        messages = [{"type": "http.request", "body": body, "more_body": False}]
        response = {"body": b""}

        async def receive():
            return messages.pop(0) if messages else {"type": "http.disconnect"}

        async def send(message):
            if message["type"] == "http.response.start":
                response["status"] = message["status"]
            elif message["type"] == "http.response.body":
                response["body"] += message.get("body", b"")

        self.loop.run_until_complete(self.app(scope, receive, send))
        return response["status"], response["body"]


def bench_handler_latency(stack: ExitStack) -> list[Result]:
    from ladder.auth import issue_dev_token
    from ladder.db.migrations import migrate
    from ladder.settings import DEV_JWT_SECRET, get_settings
    from ladder_dev.local_services import any_postgres, any_redis, delete_keys, scratch_database
    from tests.lambda_events import LambdaContext, rest_event

    database_url = stack.enter_context(
        scratch_database(stack.enter_context(any_postgres()), "bench")
    )
    migrate(database_url)
    redis_url, prefix = stack.enter_context(any_redis()), f"ladder-bench-{uuid.uuid4().hex[:8]}:"
    stack.callback(delete_keys, redis_url, prefix)
    os.environ.update(
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        LADDER_REDIS_PREFIX=prefix,
        LADDER_DB_POOL_SIZE="1",
    )
    get_settings.cache_clear()
    import functions.api as lambda_api

    stack.callback(lambda_api.app.state.resources.close)
    asgi = AsgiDriver(lambda_api.app)
    auth = {"Authorization": f"Bearer {issue_dev_token(DEV_JWT_SECRET, ['ladder:write'])}"}

    def lambda_call(event) -> int:
        return lambda_api.handler(event, LambdaContext())["statusCode"]

    headers = {**auth, "Content-Type": "application/json"}
    players = []
    for handle in ("bench_a", "bench_b"):
        body = json.dumps({"handle": handle, "display_name": handle}).encode()
        status, created = asgi("POST", "/v1/players", body, headers)
        assert status == 201, created
        players.append(json.loads(created)["id"])

    board_event = rest_event("GET", "/v1/leaderboard")
    results = []
    with contextlib.redirect_stdout(io.StringIO()):  # EMF lines: real cost, not our output
        assert lambda_call(board_event) == 200
        via_lambda, via_asgi = _paired(
            lambda: lambda_call(board_event), lambda: asgi("GET", "/v1/leaderboard")[0]
        )
    results.append(_overhead("cached GET /v1/leaderboard", via_lambda, via_asgi))

    match_body = {"player_a": players[0], "player_b": players[1], "score_a": 0.5}

    def post_lambda() -> int:
        event = rest_event(
            "POST",
            "/v1/matches",
            body=match_body,
            headers={**headers, "Idempotency-Key": uuid.uuid4().hex},
        )
        return lambda_call(event)

    def post_asgi() -> int:
        return asgi(
            "POST",
            "/v1/matches",
            json.dumps(match_body).encode(),
            {**headers, "Idempotency-Key": uuid.uuid4().hex},
        )[0]

    with contextlib.redirect_stdout(io.StringIO()):
        assert post_lambda() == 201
        assert post_asgi() == 201
        via_lambda, via_asgi = _paired(post_lambda, post_asgi, batches=5, per_batch=40)
    results.append(_overhead("POST /v1/matches", via_lambda, via_asgi))
    return results


def _overhead(request: str, via_lambda: float, via_asgi: float) -> Result:
    """The Lambda handler's cost over the bare ASGI app for one request (seconds in)."""
    return Result(
        f"{request} via Lambda handler",
        via_lambda * 1000,
        "ms",
        "bare ASGI app",
        via_asgi * 1000,
        via_lambda / via_asgi,
        1.2,
    )
