"""Scheduled backup (nightly) and restore drill (weekly), invoked by EventBridge Scheduler."""

from ladder.backup.drill import run_drill
from ladder.backup.retention import apply_retention
from ladder.backup.store import Store
from ladder.commands import back_up
from ladder.observability import logger, metrics
from ladder.settings import get_settings

# At INIT, without I/O: settings unfit for AWS fail here, not at the first run.
settings = get_settings()


@metrics.log_metrics
@logger.inject_lambda_context
def backup_handler(event, context):
    manifest = back_up(settings)
    retention = apply_retention(
        Store(settings), daily=settings.backup_keep_daily, weekly=settings.backup_keep_weekly
    )
    return {"backup_id": manifest.id, "deleted": retention["deleted"]}


@metrics.log_metrics
@logger.inject_lambda_context
def drill_handler(event, context):
    return run_drill(settings.database_url, Store(settings))
