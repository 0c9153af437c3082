"""Scheduled (every minute) outbox sweeper: the backstop when no relay runs.

If a relay holds the lock this does nothing; otherwise it publishes what is
pending and releases the lock. It connects to the database directly (the
relay URL), because an advisory lock would pin an RDS Proxy connection.
"""

from ladder.events.relay import sweep
from ladder.observability import MetricUnit, logger, metrics
from ladder.settings import get_settings


@metrics.log_metrics
@logger.inject_lambda_context
def handler(event, context):
    stats = sweep(get_settings())
    if stats is None:
        return {"swept": False, "reason": "a relay is running"}
    metrics.add_metric(name="OutboxSwept", unit=MetricUnit.Count, value=stats.published)
    return {"swept": True, "published": stats.published, "repaired": stats.repaired}
