"""The leaderboard: keyset pages from Postgres behind a versioned Redis cache.

Cache-aside with versioned keys: a page is cached under the current version
number, and every rating change bumps the version (one INCR) instead of
deleting keys, so invalidation is O(1) and a page computed before a change
can never be served after it. Old versions expire by TTL, which also bounds
staleness if a bump is lost while Redis is failing.
"""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg
from pydantic import BaseModel, Field

from ladder.cache import Cache
from ladder.db import Database
from ladder.ladders import find_ladder
from ladder.models import LeaderboardEntry, Page
from ladder.observability import MetricUnit, metrics
from ladder.pagination import Keyset, encode_cursor
from ladder.text import HANDLE_PATTERN

# How a page was served → the metric counting it (the cache's golden signals).
SERVED_METRICS = {
    "hit": "LeaderboardCacheHit",
    "miss": "LeaderboardCacheMiss",
    "waited": "LeaderboardCacheStampedeWait",
    "fail-open": "LeaderboardCacheFailOpenRead",
}


class LeaderboardCursor(BaseModel):
    """The last row of a page. Its rank is not in it: ranks come from the server, so a
    forged cursor can move where a page starts, never what rank anyone is shown."""

    rating: float = Field(allow_inf_nan=False)
    games: int = Field(ge=0, le=2**31 - 1)
    handle: str = Field(pattern=HANDLE_PATTERN)


LEADERBOARD = Keyset("leaderboard", LeaderboardCursor)


def leaderboard_page(
    db: Database, cache: Cache, *, ladder: str, limit: int, cursor: str | None, ttl: int
) -> Page[LeaderboardEntry]:
    after = LEADERBOARD.after(cursor)
    version = cache.get_int(version_key(ladder)) or 0
    # The page's key holds the cursor re-encoded: variants of one position share a page.
    position = encode_cursor(LEADERBOARD.kind, after) if after else ""
    page_key = f"leaderboard:{ladder}:v{version}:{limit}:{position}"
    page, served = cache.get_or_compute(
        page_key, ttl, lambda: _query(db, ladder, limit, after).model_dump(mode="json")
    )
    metrics.add_metric(name=SERVED_METRICS[served], unit=MetricUnit.Count, value=1)
    return Page[LeaderboardEntry].model_validate(page)


def invalidate_leaderboard(cache: Cache, ladder: str) -> None:
    """Make every cached page of a ladder's board unreachable (call after any change of
    its ratings or board policy commits)."""
    cache.incr(version_key(ladder))
    metrics.add_metric(name="LeaderboardCacheInvalidation", unit=MetricUnit.Count, value=1)


def version_key(ladder: str) -> str:
    return f"leaderboard:{ladder}:version"


# Ranked: standings of the ladder with at least the board's minimum of games, active
# within its inactivity window if it has one. `games > 0` is spelled out so the partial
# board index applies whatever the minimum is.
RANKED = (
    "ladder_id = %(ladder)s AND games > 0 AND games >= %(min_games)s"
    " AND (%(active_since)s::timestamptz IS NULL OR last_played_at >= %(active_since)s)"
)


def _query(
    db: Database, slug: str, limit: int, after: LeaderboardCursor | None
) -> Page[LeaderboardEntry]:
    # Order: rating desc, games desc, handle asc. Mixed directions cannot use
    # a row comparison, so the keyset condition is spelled out.
    keyset = (
        " AND (rating < %(r)s OR (rating = %(r)s AND"
        " (games < %(g)s OR (games = %(g)s AND handle > %(h)s))))"
        if after
        else ""
    )

    def work(conn: psycopg.Connection) -> tuple[list[dict], int]:
        ladder = find_ladder(conn, slug)
        params = {
            "ladder": ladder.id,
            "min_games": ladder.board.min_games,
            "active_since": ladder.board.active_since(datetime.now(UTC)),
            "provisional_games": ladder.rules.provisional_games,
            "limit": limit + 1,
            "r": after.rating if after else None,
            "g": after.games if after else None,
            "h": after.handle if after else None,
        }
        rows = conn.execute(
            "SELECT player_id, handle, rating, games,"
            " games < %(provisional_games)s AS provisional"
            f" FROM standings WHERE {RANKED}"
            + keyset
            + " ORDER BY rating DESC, games DESC, handle ASC LIMIT %(limit)s",
            params,
        ).fetchall()
        return rows, (_players_up_to(conn, params) if after else 0)

    rows, ahead = db.run(work)
    return LEADERBOARD.page(
        Page[LeaderboardEntry],
        list(enumerate(rows)),
        limit,
        lambda numbered: LeaderboardEntry(rank=ahead + 1 + numbered[0], **numbered[1]),
        lambda last: LeaderboardCursor(rating=last.rating, games=last.games, handle=last.handle),
    )


def _players_up_to(conn: psycopg.Connection, params: dict) -> int:
    """How many ranked players come at or before the cursor's position (the rank of the
    page's first row, less one). O(rank) with the board index; cached with the page."""
    row = conn.execute(
        f"SELECT count(*) AS n FROM standings WHERE {RANKED} AND (rating > %(r)s OR"
        " (rating = %(r)s AND (games > %(g)s OR (games = %(g)s AND handle <= %(h)s))))",
        params,
    ).fetchone()
    return row["n"]
