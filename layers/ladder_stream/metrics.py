"""Prometheus metrics of the stream service (served on a localhost-only port)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

CONNECTIONS = Gauge("ladder_stream_connections", "Open SSE connections")
EVENTS_SENT = Counter("ladder_stream_events_sent_total", "Events written to SSE clients")
RESUMES = Counter(
    "ladder_stream_resumes_total", "Resumed connections, by where history came from", ["source"]
)
RESETS = Counter("ladder_stream_resets_total", "Resumes answered with a reset")
DROPS = Counter("ladder_stream_drops_total", "Clients dropped for falling behind", ["reason"])
RELAY_LAG = Gauge("ladder_relay_lag_seconds", "Commit-to-Redis delay of the last relay pass")
RELAY_PUBLISHED = Counter("ladder_relay_published_total", "Events the relay published")
RELAY_LEADER = Gauge("ladder_relay_leader", "1 while this process's relay leads")
RELAY_RESTARTS = Counter(
    "ladder_relay_restarts_total", "Relay passes ended by an error (the relay starts over)"
)
HUB_BEHIND = Gauge(
    "ladder_stream_hub_behind_events", "Events in Redis this process's live reader has not read"
)


def metric_names() -> list[str]:
    """Every collector's name above (counters without their `_total`), for dashboards."""
    from prometheus_client.metrics import MetricWrapperBase

    return [
        value.describe()[0].name
        for value in globals().values()
        if isinstance(value, MetricWrapperBase)
    ]
