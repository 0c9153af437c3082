"""Deploy-time preparation of the database: what `ladder migrate`, `make dev` and
the deploy's migration trigger all run."""

from __future__ import annotations

import psycopg

from ladder.commands import adopt_rating_rules
from ladder.credentials import bootstrap_conninfo
from ladder.db.migrations import migrate
from ladder.db.roles import bootstrap_roles
from ladder.resources import Resources
from ladder.settings import Settings


def prepare_database(settings: Settings) -> dict:
    """Bootstrap the roles (where a master secret is given: the deploy), apply migrations
    as `DATABASE_URL`'s user, then record the rating rules (recalculating if they changed)."""
    if settings.db_bootstrap_secret_arn:
        with psycopg.connect(bootstrap_conninfo(settings), autocommit=True) as conn:
            bootstrap_roles(conn)
    applied = migrate(settings.database_url)
    resources = Resources.from_settings(settings)
    try:
        job_id = adopt_rating_rules(resources)
    finally:
        resources.close()
    return {"applied": applied, "recalculation": job_id}
