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

__all__ = ["MetricUnit", "logger", "metrics"]
