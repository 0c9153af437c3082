"""What each job type does: the application's handlers, which the job machinery
(`ladder.jobs.runner`) calls for a delivered job."""

from __future__ import annotations

from ladder import commands
from ladder.jobs.envelope import BACKUP, INVALIDATE_CACHE, RECALCULATE, SEASON_CLOSE, Envelope
from ladder.jobs.runner import Handler, Job, run_job
from ladder.ladders import DEFAULT_LADDER
from ladder.leaderboard import invalidate_leaderboard
from ladder.observability import MetricUnit, metrics
from ladder.rank_index import sync as rank_sync
from ladder.ratings.recalculation import Point
from ladder.resources import Resources


def _recalculate(job: Job) -> dict:
    start = Point.from_payload(job.payload.get("from"))
    # Jobs scheduled before ladders name none: theirs is the default (id 1).
    ladder_id = int(job.payload.get("ladder", 1))
    result = commands.run_recalculation(job.resources, job.id, ladder_id, start, job.progress)
    if result["seconds"] > 0:
        metrics.add_metric(
            name="RecalculatedMatchesPerSecond",
            unit=MetricUnit.CountPerSecond,
            value=result["matches"] / result["seconds"],
        )
    return result


def _invalidate_cache(job: Job) -> dict:
    ladder = job.payload.get("ladder", DEFAULT_LADDER)
    invalidate_leaderboard(job.resources.cache, ladder)
    return {"invalidated": [f"leaderboard:{ladder}"]}


def _rebuild_rank_index(job: Job) -> dict:
    return rank_sync.rebuild(job.resources, job.payload["ladder"])


def _backup(job: Job) -> dict:
    manifest = commands.back_up(
        job.resources.settings, report=lambda fraction, _: job.progress(fraction)
    )
    return {"backup_id": manifest.id, "seconds": manifest.total_seconds}


def _close_seasons(job: Job) -> dict:
    return {"closed": commands.close_seasons(job.resources, int(job.payload["ladder"]))}


# The registry: job type → handler.
HANDLERS: dict[str, Handler] = {
    RECALCULATE: _recalculate,
    INVALIDATE_CACHE: _invalidate_cache,
    BACKUP: _backup,
    SEASON_CLOSE: _close_seasons,
    rank_sync.REBUILD: _rebuild_rank_index,
}


def handle(resources: Resources, envelope: Envelope) -> dict | None:
    """Run one delivered job (see `run_job`)."""
    return run_job(resources, envelope, HANDLERS)
