"""Generate infra/grafana/ladder.json: a Grafana dashboard of every metric ladder emits.

    python -m ladder_dev.gen_grafana

Two data sources, picked when the dashboard is imported: the stream service's
Prometheus metrics from Amazon Managed Prometheus (one panel per collector in
`ladder_stream.metrics`), and the Lambdas' EMF metrics from CloudWatch
(the rows of `ladder.observability.DASHBOARD_METRICS`, and the per-route API
metrics). Both lists come from the code, so a new metric gets a panel by
rerunning this; a test fails while the committed file is stale.
"""

from __future__ import annotations

import json
from pathlib import Path

from prometheus_client.metrics import MetricWrapperBase

from ladder.observability import DASHBOARD_METRICS, NAMESPACE, ROUTE_METRICS, SERVICE
from ladder_stream import metrics as stream_metrics

DASHBOARD = Path(__file__).resolve().parent.parent / "infra" / "grafana" / "ladder.json"
PROMETHEUS = {"type": "prometheus", "uid": "${prometheus}"}
CLOUDWATCH = {"type": "cloudwatch", "uid": "${cloudwatch}"}


def _collectors() -> list[MetricWrapperBase]:
    return [v for v in vars(stream_metrics).values() if isinstance(v, MetricWrapperBase)]


def _prometheus_panel(collector: MetricWrapperBase) -> dict:
    (family,) = collector.describe()
    labels = ", ".join(collector._labelnames)  # prometheus_client has no public accessor
    by = f" by ({labels})" if labels else ""
    if family.type == "counter":
        expr, unit = f"sum{by} (rate({family.name}_total[5m]))", "per second"
    else:
        expr, unit = f"sum{by} ({family.name})", "value"
    return {
        "title": f"Stream: {family.documentation} ({unit})",
        "datasource": PROMETHEUS,
        "targets": [{"refId": "A", "expr": expr, "legendFormat": "__auto"}],
    }


def _cloudwatch_target(ref: str, name: str, statistic: str, dimensions: dict) -> dict:
    return {
        "refId": ref,
        "datasource": CLOUDWATCH,
        "region": "default",
        "namespace": NAMESPACE,
        "metricName": name,
        "dimensions": dimensions,
        "statistic": statistic,
        "period": "300",
        "matchExact": "route" not in dimensions,
    }


def _cloudwatch_panels() -> list[dict]:
    panels = [
        {
            "title": f"Lambdas: {row}",
            "datasource": CLOUDWATCH,
            "targets": [
                _cloudwatch_target(chr(ord("A") + i), name, "Sum", {"service": SERVICE})
                for i, name in enumerate(names)
            ],
        }
        for row, names in DASHBOARD_METRICS.items()
    ]
    panels += [
        {
            "title": f"API: {name} by route ({statistic})",
            "datasource": CLOUDWATCH,
            "targets": [
                _cloudwatch_target("A", name, statistic, {"service": SERVICE, "route": "*"})
            ],
        }
        for name, statistic in ROUTE_METRICS.items()
    ]
    return panels


def dashboard() -> dict:
    panels = [_prometheus_panel(c) for c in _collectors()] + _cloudwatch_panels()
    for index, panel in enumerate(panels):
        panel.update(
            id=index + 1,
            type="timeseries",
            gridPos={"h": 8, "w": 12, "x": 12 * (index % 2), "y": 8 * (index // 2)},
        )
    return {
        "title": "ladder",
        "uid": "ladder",
        "schemaVersion": 39,
        "time": {"from": "now-6h", "to": "now"},
        "templating": {
            "list": [
                {
                    "name": "prometheus",
                    "type": "datasource",
                    "query": "prometheus",
                    "label": "Amazon Managed Prometheus workspace (stream service)",
                },
                {
                    "name": "cloudwatch",
                    "type": "datasource",
                    "query": "cloudwatch",
                    "label": "CloudWatch (Lambdas, EMF namespace Ladder)",
                },
            ]
        },
        "panels": panels,
    }


def main() -> None:
    DASHBOARD.write_text(json.dumps(dashboard(), indent=2) + "\n")
    print(f"wrote {DASHBOARD}")


if __name__ == "__main__":
    main()
