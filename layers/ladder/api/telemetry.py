"""Per-route request metrics: latency, client errors and server errors by route template.

One EMF record per request, with a `route` dimension (`GET /v1/players/{player_id}`),
from a Powertools `EphemeralMetrics` so that the dimension never leaks into the
process's other metrics. A plain ASGI middleware, not `BaseHTTPMiddleware`, so it
adds one wrapper call per request and nothing per body chunk. Installed when
`LADDER_REQUEST_METRICS` is on (the API Lambda); the local stack leaves it off,
since every record is a line on stdout.
"""

from __future__ import annotations

import time

from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit

from ladder.observability import NAMESPACE, SERVICE


def record_request(route: str, status: int, seconds: float) -> None:
    emf = EphemeralMetrics(namespace=NAMESPACE, service=SERVICE)
    emf.add_dimension(name="route", value=route)
    emf.add_metric(name="RequestLatency", unit=MetricUnit.Milliseconds, value=seconds * 1000)
    emf.add_metric(name="ClientErrors", unit=MetricUnit.Count, value=int(400 <= status < 500))
    emf.add_metric(name="ServerErrors", unit=MetricUnit.Count, value=int(status >= 500))
    emf.flush_metrics()


class RequestMetrics:
    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # if the app raises before answering

        async def send_and_note_status(message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note_status)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            record_request(f"{scope['method']} {route}", status, time.perf_counter() - started)
