"""Deploy-time preparation of the database: what `ladder migrate`, `make dev` and
the deploy's migration trigger all run."""

from __future__ import annotations

from ladder.db.migrations import migrate
from ladder.jobs.rules import sync_rating_rules
from ladder.jobs.schedule import dispatch
from ladder.resources import Resources
from ladder.settings import Settings


def prepare_database(settings: Settings) -> dict:
    """Apply migrations, then record the rating rules (recalculating if they changed)."""
    applied = migrate(settings.database_url)
    resources = Resources.from_settings(settings)
    try:
        job_id = sync_rating_rules(resources.db, resources.rules)
        if job_id is not None:
            dispatch(resources.db, settings, [job_id])
    finally:
        resources.close()
    return {"applied": applied, "recalculation": job_id}
