"""Scheduled (every minute) backstop for the two outboxes.

- Events: if no relay holds the lock, publish what is pending (it connects
  directly, via the relay URL, because an advisory lock would pin an RDS
  Proxy connection). If a relay runs, there is nothing to do.
- Jobs: send jobs that committed but whose dispatch failed; mark jobs whose
  worker vanished (still running past the worker's timeout) as failed.
- Idempotency records: forget responses older than the retry window.
- Seasons: schedule the closes and resets that are due (`ladder.seasons.tick`).
- Rank index: compare each ladder's with Postgres every `rank_reconcile_seconds`,
  report drift; a rebuild job repairs it, or builds one that is missing.
- Backups: report the age of the newest complete backup (BackupAgeSeconds),
  which the "backup older than 26 h" alarm watches.
"""

from functools import cache

from ladder import commands
from ladder.backup.manifest import latest_backup_age
from ladder.backup.store import Store
from ladder.events.relay import sweep
from ladder.idempotency import prune_idempotency_records
from ladder.jobs.dispatch import dispatch_pending
from ladder.jobs.store import fail_abandoned
from ladder.observability import MetricUnit, logger, metrics
from ladder.rank_index import sync as rank_sync
from ladder.resources import Resources
from ladder.settings import get_settings

resources = Resources.from_settings(get_settings())


@cache
def backup_store() -> Store:
    """Made on first use (its S3 client too), then reused by every invocation."""
    return Store(resources.settings)


@metrics.log_metrics
@logger.inject_lambda_context
def handler(event, context):
    stats = sweep(resources.settings)
    jobs = dispatch_pending(resources.db, resources.settings)
    abandoned = fail_abandoned(resources.db)
    pruned = prune_idempotency_records(resources.db, resources.settings.idempotency_retention_hours)
    metrics.add_metric(name="JobsRedispatched", unit=MetricUnit.Count, value=jobs)
    season_jobs = len(commands.tick_seasons(resources))
    try:
        reconciled = rank_sync.reconcile_due(resources)
    except Exception:  # the index's drift is reported next time; the sweep matters more
        logger.exception("could not reconcile the rank index")
        reconciled = []
    try:
        age = latest_backup_age(backup_store())
    except Exception:  # the sweep above matters more; a missing figure raises the alarm
        logger.exception("could not read the newest backup's age")
        age = None
    if age is not None:  # none at all: no data, which the alarm treats as stale
        metrics.add_metric(name="BackupAgeSeconds", unit=MetricUnit.Seconds, value=age)
    if stats is None:
        return {
            "swept": False,
            "reason": "a relay is running",
            "jobs_dispatched": jobs,
            "jobs_abandoned": abandoned,
            "idempotency_pruned": pruned,
            "season_jobs": season_jobs,
            "ranks_reconciled": reconciled,
        }
    metrics.add_metric(name="OutboxSwept", unit=MetricUnit.Count, value=stats.published)
    return {
        "swept": True,
        "published": stats.published,
        "repaired": stats.repaired,
        "jobs_dispatched": jobs,
        "jobs_abandoned": abandoned,
        "idempotency_pruned": pruned,
        "season_jobs": season_jobs,
        "ranks_reconciled": reconciled,
    }
