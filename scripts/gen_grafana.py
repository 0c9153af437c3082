"""Generate infra/grafana/stream.json: a Grafana dashboard of the stream service's
Prometheus metrics (as remote-written to Amazon Managed Prometheus).

    python -m scripts.gen_grafana

One panel per metric, derived from the collectors in
`ladder.events.stream_metrics`, so a new metric gets a panel by rerunning
this (a test fails while the committed file is stale).
"""

from __future__ import annotations

import json
from pathlib import Path

from prometheus_client.metrics import MetricWrapperBase

from ladder.events import stream_metrics

DASHBOARD = Path(__file__).resolve().parent.parent / "infra" / "grafana" / "stream.json"


def _collectors() -> list[MetricWrapperBase]:
    return [v for v in vars(stream_metrics).values() if isinstance(v, MetricWrapperBase)]


def _expr(collector: MetricWrapperBase) -> tuple[str, str]:
    (family,) = collector.describe()
    labels = ", ".join(collector._labelnames)
    by = f" by ({labels})" if labels else ""
    if family.type == "counter":
        return f"sum{by} (rate({family.name}_total[5m]))", "per second"
    return f"sum{by} ({family.name})", "value"


def stream_metric_names() -> list[str]:
    return [collector.describe()[0].name for collector in _collectors()]


def dashboard() -> dict:
    panels = []
    for index, collector in enumerate(_collectors()):
        (family,) = collector.describe()
        expr, unit = _expr(collector)
        panels.append(
            {
                "id": index + 1,
                "type": "timeseries",
                "title": f"{family.documentation} ({unit})",
                "datasource": {"type": "prometheus", "uid": "${datasource}"},
                "gridPos": {"h": 8, "w": 12, "x": 12 * (index % 2), "y": 8 * (index // 2)},
                "targets": [{"refId": "A", "expr": expr, "legendFormat": "__auto"}],
            }
        )
    return {
        "title": "ladder stream service",
        "uid": "ladder-stream",
        "schemaVersion": 39,
        "time": {"from": "now-6h", "to": "now"},
        "templating": {
            "list": [
                {
                    "name": "datasource",
                    "type": "datasource",
                    "query": "prometheus",
                    "label": "Amazon Managed Prometheus workspace",
                }
            ]
        },
        "panels": panels,
    }


def main() -> None:
    DASHBOARD.write_text(json.dumps(dashboard(), indent=2) + "\n")
    print(f"wrote {DASHBOARD}")


if __name__ == "__main__":
    main()
