"""The process's logger and metrics (Powertools: JSON logs, CloudWatch EMF).

Lambda handlers flush metrics with `metrics.log_metrics`; long-running local
processes flush every 100 values, so memory stays bounded there too.
"""

from __future__ import annotations

from aws_lambda_powertools.logging import Logger
from aws_lambda_powertools.metrics import Metrics, MetricUnit

SERVICE = "ladder"
NAMESPACE = "Ladder"

logger = Logger(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)

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
