"""The process's logger and metrics (Powertools: JSON logs, CloudWatch EMF).

Lambda handlers flush metrics with `metrics.log_metrics`; long-running processes
flush every 100 values, so memory stays bounded there too (locally, with metrics
disabled, nothing is kept).
"""

from __future__ import annotations

import os

from aws_lambda_powertools.logging import Logger
from aws_lambda_powertools.metrics import Metrics, MetricUnit

SERVICE = "ladder"
NAMESPACE = "Ladder"


class _Metrics(Metrics):
    """Powertools' metrics, except that with POWERTOOLS_METRICS_DISABLED set (`make dev`,
    the drills, the CLI) no value is kept: Powertools prints its buffer every 100 values
    whatever that setting says, raw EMF lines on a local console."""

    def add_metric(self, *args, **kwargs) -> None:
        if os.environ.get("POWERTOOLS_METRICS_DISABLED", "").lower() in ("true", "1"):
            return
        super().add_metric(*args, **kwargs)


logger = Logger(service=SERVICE)
metrics = _Metrics(namespace=NAMESPACE, service=SERVICE)

# Every EMF metric the code emits, by the dashboard row that shows it (in the
# `Ladder` namespace with the `service` dimension). The CloudWatch dashboard
# and the Grafana JSON are built from this, and a test checks it against every
# metric name in the code.
DASHBOARD_METRICS: dict[str, tuple[str, ...]] = {
    "Cache": (
        "LeaderboardCacheHit",
        "LeaderboardCacheMiss",
        "LeaderboardCacheStampedeWait",
        "LeaderboardCacheFailOpenRead",
        "LeaderboardCacheInvalidation",
        "CacheBypassed",
        "CacheErrors",
    ),
    "Rank index": (
        "RankIndexRead",
        "RankIndexFallback",
        "RankIndexDrift",
        "RankIndexRebuilt",
        "RankIndexRebuildSeconds",
        "RankIndexMissedWrite",
    ),
    "Jobs": (
        "JobDuration",
        "JobFailures",
        "RecalculatedMatchesPerSecond",
        "JobsRedispatched",
        "OutboxSwept",
    ),
    "Seasons": (
        "SeasonCloseLagSeconds",
        "SeasonsClosed",
        "SeasonTickFailures",
    ),
    "Backups and drills": (
        "BackupSucceeded",
        "BackupSeconds",
        "BackupAgeSeconds",
        "RestoreDrillSucceeded",
    ),
}
# Per-route API metrics (ladder.api.telemetry) with an extra `route` dimension,
# and the statistic their dashboards show.
ROUTE_METRICS: dict[str, str] = {
    "RequestLatency": "p99",
    "ClientErrors": "Sum",
    "ServerErrors": "Sum",
}

__all__ = ["DASHBOARD_METRICS", "ROUTE_METRICS", "MetricUnit", "logger", "metrics"]
