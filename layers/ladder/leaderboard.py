"""The leaderboard: keyset pages from Postgres behind a versioned Redis cache.

Cache-aside with versioned keys: a page is cached under the current version
number, and every rating change bumps the version (one INCR) instead of
deleting keys, so invalidation is O(1) and a page computed before a change
can never be served after it. Old versions expire by TTL, which also bounds
staleness if a bump is lost while Redis is failing.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from ladder.cache import Cache
from ladder.db import Database
from ladder.models import LeaderboardEntry, Page
from ladder.observability import MetricUnit, metrics
from ladder.pagination import Keyset, encode_cursor
from ladder.players import HANDLE_PATTERN

VERSION_KEY = "leaderboard:version"
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
    db: Database, cache: Cache, *, limit: int, cursor: str | None, ttl: int
) -> Page[LeaderboardEntry]:
    after = LEADERBOARD.after(cursor)
    version = cache.get_int(VERSION_KEY) or 0
    # The page's key holds the cursor re-encoded: variants of one position share a page.
    position = encode_cursor(LEADERBOARD.kind, after) if after else ""
    page_key = f"leaderboard:v{version}:{limit}:{position}"
    page, served = cache.get_or_compute(
        page_key, ttl, lambda: _query(db, limit, after).model_dump(mode="json")
    )
    metrics.add_metric(name=SERVED_METRICS[served], unit=MetricUnit.Count, value=1)
    return Page[LeaderboardEntry].model_validate(page)


def invalidate_leaderboard(cache: Cache) -> None:
    """Make every cached page unreachable (call after any rating change commits)."""
    cache.incr(VERSION_KEY)
    metrics.add_metric(name="LeaderboardCacheInvalidation", unit=MetricUnit.Count, value=1)


def _query(db: Database, limit: int, after: LeaderboardCursor | None) -> Page[LeaderboardEntry]:
    # Order: rating desc, games desc, handle asc. Mixed directions cannot use
    # a row comparison, so the keyset condition is spelled out.
    keyset = (
        " AND (rating < %(r)s OR (rating = %(r)s AND"
        " (games < %(g)s OR (games = %(g)s AND handle > %(h)s))))"
        if after
        else ""
    )
    rows = db.run(
        lambda conn: conn.execute(
            "SELECT id AS player_id, handle, rating, games FROM players WHERE games > 0"
            + keyset
            + " ORDER BY rating DESC, games DESC, handle ASC LIMIT %(limit)s",
            {
                "limit": limit + 1,
                "r": after.rating if after else None,
                "g": after.games if after else None,
                "h": after.handle if after else None,
            },
        ).fetchall()
    )
    first_rank = _players_up_to(db, after) + 1 if after else 1
    return LEADERBOARD.page(
        Page[LeaderboardEntry],
        list(enumerate(rows)),
        limit,
        lambda numbered: LeaderboardEntry(rank=first_rank + numbered[0], **numbered[1]),
        lambda last: LeaderboardCursor(rating=last.rating, games=last.games, handle=last.handle),
    )


def _players_up_to(db: Database, after: LeaderboardCursor) -> int:
    """How many ranked players come at or before the cursor's position (the rank of the
    page's first row, less one). O(rank) with the leaderboard index; cached with the page."""
    row = db.run(
        lambda conn: conn.execute(
            "SELECT count(*) AS n FROM players WHERE games > 0 AND (rating > %(r)s OR"
            " (rating = %(r)s AND (games > %(g)s OR (games = %(g)s AND handle <= %(h)s))))",
            {"r": after.rating, "g": after.games, "h": after.handle},
        ).fetchone()
    )
    return row["n"]
