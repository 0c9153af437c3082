"""Rating parameters are part of the data: changing them recalculates every rating."""

from __future__ import annotations

from dataclasses import asdict
from uuid import UUID

from psycopg.types.json import Jsonb

from ladder.db import Database
from ladder.jobs.store import schedule_recalculation
from ladder.ratings.elo import RatingRules


def sync_rating_rules(db: Database, rules: RatingRules) -> UUID | None:
    """Record the configured rules; if they differ from the stored ones, schedule a
    full recalculation and return its job id (run at deploy, after migrations)."""

    def work(conn) -> UUID | None:
        row = conn.execute(
            "SELECT rules FROM rating_rules_applied WHERE singleton FOR UPDATE"
        ).fetchone()
        wanted = asdict(rules)
        if row is not None and row["rules"] == wanted:
            return None
        conn.execute(
            "INSERT INTO rating_rules_applied (rules) VALUES (%s) ON CONFLICT (singleton)"
            " DO UPDATE SET rules = excluded.rules, changed_at = now()",
            (Jsonb(wanted),),
        )
        has_matches = conn.execute("SELECT EXISTS (SELECT 1 FROM matches) AS any").fetchone()
        if row is None and not has_matches["any"]:
            return None  # a new installation: nothing was rated with other rules
        return schedule_recalculation(conn, from_played_at=None, from_seq=None)

    return db.run(work)
