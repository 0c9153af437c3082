"""Rating parameters are part of the data: changing them recalculates every rating.

Each ladder keeps its rules in its row (changed with PATCH /v1/ladders/{slug}).
The deployment's LADDER_RATING_* settings are the defaults of new ladders and,
when a deploy changes them, the new rules of the ladder `default` (as they were
before ladders existed); a deploy that leaves them as they were changes nothing,
so rules set through the API stay.
"""

from __future__ import annotations

from dataclasses import asdict
from uuid import UUID

from psycopg.types.json import Jsonb

from ladder.db import Database
from ladder.jobs.store import schedule_recalculation
from ladder.ladders import DEFAULT_LADDER, LadderChange, update_ladder
from ladder.models import RulesChange
from ladder.ratings.elo import RatingRules

# The parameters the settings name (a ladder's rules add `max_rating_gap`).
SETTINGS_PARAMETERS = (
    "initial",
    "provisional_games",
    "k_provisional",
    "k_established",
    "master_threshold",
    "k_master",
)


def sync_rating_rules(db: Database, rules: RatingRules) -> UUID | None:
    """Record the configured rules; if they differ from the ones last adopted, make
    them the default ladder's and schedule its full recalculation, returning the job
    id (run at deploy, after migrations)."""
    wanted = {name: asdict(rules)[name] for name in SETTINGS_PARAMETERS}

    def work(conn) -> UUID | None:
        row = conn.execute(
            "SELECT rules FROM rating_rules_applied WHERE singleton FOR UPDATE"
        ).fetchone()
        if row is not None and row["rules"] == wanted:
            return None
        conn.execute(
            "INSERT INTO rating_rules_applied (rules) VALUES (%s) ON CONFLICT (singleton)"
            " DO UPDATE SET rules = excluded.rules, changed_at = now()",
            (Jsonb(wanted),),
        )
        # The settings as they are: a deploy's own values are not bounded like a client's.
        change = LadderChange(rules=RulesChange.model_construct(**wanted))
        _, rerate = update_ladder(conn, DEFAULT_LADDER, change)
        if rerate is None:
            return None  # the ladder had these rules already
        has_matches = conn.execute(
            "SELECT EXISTS (SELECT 1 FROM matches WHERE ladder_id = %s) AS any", (rerate.id,)
        ).fetchone()
        if not has_matches["any"]:
            return None  # nothing was rated with other rules
        return schedule_recalculation(conn, ladder_id=rerate.id, from_played_at=None, from_seq=None)

    return db.run(work)
