"""The leaderboard: pages from the rank index in Redis, or from Postgres.

The rank index (`ladder.rank_index`) answers any page in O(log n + limit) and needs
no cache: it is updated by each write before the write answers. When it cannot
answer (Redis down, or the ladder's index not built yet, which asks for a rebuild),
Postgres does, with keyset pages behind a versioned Redis cache.

Cache-aside with versioned keys: a page is cached under the current version
number, and every rating change bumps the version (one INCR) instead of
deleting keys, so invalidation is O(1) and a page computed before a change
can never be served after it. Old versions expire by TTL, which also bounds
staleness if a bump is lost while Redis is failing.
"""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

import psycopg
from pydantic import BaseModel, Field

from ladder.board import AFTER, AT_OR_AFTER, AT_OR_BEFORE, BEFORE, DOWN, RANKED, UP, board_params
from ladder.cache import Cache
from ladder.errors import BadRequest, NotFound
from ladder.ladders import find_ladder
from ladder.models import LeaderboardEntry, LeaderboardPage
from ladder.observability import MetricUnit, metrics
from ladder.pagination import Keyset, encode_cursor
from ladder.rank_index.store import RankIndex
from ladder.rank_index.sync import request_rebuild
from ladder.resources import Resources
from ladder.text import HANDLE_PATTERN

# How a page was served → the metric counting it (the cache's golden signals).
SERVED_METRICS = {
    "hit": "LeaderboardCacheHit",
    "miss": "LeaderboardCacheMiss",
    "waited": "LeaderboardCacheStampedeWait",
    "fail-open": "LeaderboardCacheFailOpenRead",
}


class LeaderboardCursor(BaseModel):
    """A position on the board: a page's last row (`next_cursor`), or its first with
    `before` (`prev_cursor`: the page that ends just above it). Its rank is not in it:
    ranks come from the server, so a forged cursor can move where a page starts, never
    what rank anyone is shown."""

    rating: float = Field(allow_inf_nan=False)
    games: int = Field(ge=0, le=2**31 - 1)
    handle: str = Field(pattern=HANDLE_PATTERN)
    before: bool = False


LEADERBOARD = Keyset("leaderboard", LeaderboardCursor)


def leaderboard_page(
    res: Resources,
    *,
    ladder: str,
    limit: int,
    cursor: str | None,
    around: UUID | None = None,
) -> LeaderboardPage:
    """A page of the board: from the top, after or before a cursor's position, or
    centred on a player (`around`, which a cursor cannot accompany)."""
    if around is not None and cursor is not None:
        raise BadRequest("around and cursor are two ways to say where a page is: pass one")
    position = LEADERBOARD.after(cursor)
    page = indexed_page(res.index, ladder, limit, position, around)
    if page is not None:
        metrics.add_metric(name="RankIndexRead", unit=MetricUnit.Count, value=1)
        return page
    page = _stored_page(res, ladder, limit, position, around)
    metrics.add_metric(name="RankIndexFallback", unit=MetricUnit.Count, value=1)
    if not res.cache.degraded:  # Redis answers, but the ladder has no live index
        request_rebuild(res, ladder)
    return page


def indexed_page(
    index: RankIndex,
    slug: str,
    limit: int,
    position: LeaderboardCursor | None,
    around: UUID | None,
) -> LeaderboardPage | None:
    """A page from the rank index; None if it cannot answer."""
    now = datetime.now(UTC)
    if around is not None:
        got = index.page(slug, now, "around", around, limit)
    elif position is None:
        got = index.page(slug, now, "top", limit)
    else:
        op = "before" if position.before else "after"
        got = index.page(slug, now, op, position.rating, position.games, position.handle, limit)
    if got is None:
        return None
    if got.start < 0:
        raise NotFound(f"player {around} is not on this ladder's board")
    items = [
        LeaderboardEntry(
            rank=got.start + 1 + offset, provisional=row["games"] < got.provisional_games, **row
        )
        for offset, row in enumerate(got.rows)
    ]
    return _page(items, got.start + 1, got.start + len(items) < got.size, position)


def _stored_page(
    res: Resources,
    ladder: str,
    limit: int,
    position: LeaderboardCursor | None,
    around: UUID | None,
) -> LeaderboardPage:
    """A page from Postgres, cached."""
    version = res.cache.get_int(version_key(ladder)) or 0
    # The page's key holds the cursor re-encoded: variants of one position share a page.
    where = encode_cursor(LEADERBOARD.kind, position) if position else f"around:{around or ''}"
    page_key = f"leaderboard:{ladder}:v{version}:{limit}:{where}"
    page, served = res.cache.get_or_compute(
        page_key,
        res.settings.leaderboard_cache_ttl,
        # One snapshot: the rows and the count that ranks them must see the same board.
        lambda: res.db.run(
            lambda conn: board_page(conn, ladder, limit, position, around), snapshot=True
        ).model_dump(mode="json"),
    )
    metrics.add_metric(name=SERVED_METRICS[served], unit=MetricUnit.Count, value=1)
    return LeaderboardPage.model_validate(page)


def invalidate_leaderboard(cache: Cache, ladder: str) -> None:
    """Make every cached page of a ladder's board unreachable (call after any change of
    its ratings or board policy commits)."""
    cache.incr(version_key(ladder))
    metrics.add_metric(name="LeaderboardCacheInvalidation", unit=MetricUnit.Count, value=1)


def version_key(ladder: str) -> str:
    return f"leaderboard:{ladder}:version"


ROW = "player_id, handle, rating, games, games < %(provisional_games)s AS provisional"


def board_page(
    conn: psycopg.Connection,
    slug: str,
    limit: int,
    position: LeaderboardCursor | None,
    around: UUID | None,
) -> LeaderboardPage:
    """A page of the board from Postgres. Its rows cost O(limit) index reads from where
    the page starts; the first row's rank is a count of the rows above it, O(rank)."""
    ladder = find_ladder(conn, slug)
    params = {
        **board_params(ladder, datetime.now(UTC)),
        "provisional_games": ladder.rules.provisional_games,
    }
    if around is not None:
        position = _position_of(conn, params, around)
        above = _rows(conn, params, BEFORE, UP, position, (limit - 1) // 2)[::-1]
        below = _rows(conn, params, AT_OR_AFTER, DOWN, position, limit - len(above) + 1)
        if len(below) < limit - len(above):  # near the bottom: a full page reaches higher
            above = _rows(conn, params, BEFORE, UP, position, limit - len(below))[::-1]
        rows, more_below = above + below, len(below) > limit - len(above)
        first_rank = _count(conn, params, BEFORE, position) - len(above) + 1
    elif position is not None and position.before:
        above = _rows(conn, params, BEFORE, UP, position, limit + 1)[::-1]
        if len(above) < limit:  # fewer above than a page (the board moved): the top page
            return board_page(conn, slug, limit, None, None)
        rows = above[-limit:]
        first_rank = _count(conn, params, BEFORE, position) - len(rows) + 1
        more_below = bool(_rows(conn, params, AFTER, DOWN, _key(rows[-1]), 1))
    else:
        rows = _rows(conn, params, AFTER if position else "", DOWN, position, limit + 1)
        more_below = len(rows) > limit
        first_rank = 1 + (_count(conn, params, AT_OR_BEFORE, position) if position else 0)
    rows = rows[:limit]
    items = [LeaderboardEntry(rank=first_rank + index, **row) for index, row in enumerate(rows)]
    return _page(items, first_rank, more_below, position)


def _page(
    items: list[LeaderboardEntry],
    first_rank: int,
    more_below: bool,
    position: LeaderboardCursor | None,
) -> LeaderboardPage:
    above_first = None
    if first_rank > 1:  # a page above: the one ending at this page's first row, or (past
        # the bottom, the board having moved) the one ending at the cursor's position
        above_first = _key(items[0].model_dump()) if items else position
    return LeaderboardPage(
        items=items,
        next_cursor=_cursor(_key(items[-1].model_dump())) if items and more_below else None,
        prev_cursor=_cursor(above_first, before=True) if above_first else None,
    )


def _rows(
    conn: psycopg.Connection,
    params: dict,
    condition: str,
    order: str,
    position: LeaderboardCursor | None,
    limit: int,
) -> list[dict]:
    if limit <= 0:
        return []
    where = f" AND {condition}" if condition else ""
    return conn.execute(
        f"SELECT {ROW} FROM standings WHERE {RANKED}{where} {order} LIMIT %(limit)s",
        {**params, **_at(position), "limit": limit},
    ).fetchall()


def _count(
    conn: psycopg.Connection, params: dict, condition: str, position: LeaderboardCursor
) -> int:
    return conn.execute(
        f"SELECT count(*) AS n FROM standings WHERE {RANKED} AND {condition}",
        {**params, **_at(position)},
    ).fetchone()["n"]


def _position_of(conn: psycopg.Connection, params: dict, player_id: UUID) -> LeaderboardCursor:
    row = conn.execute(
        f"SELECT rating, games, handle FROM standings WHERE {RANKED} AND player_id = %(player)s",
        {**params, "player": player_id},
    ).fetchone()
    if row is None:
        raise NotFound(f"player {player_id} is not on this ladder's board")
    return LeaderboardCursor(**row)


def _at(position: LeaderboardCursor | None) -> dict:
    if position is None:
        return {"r": None, "g": None, "h": None}
    return {"r": position.rating, "g": position.games, "h": position.handle}


def _key(row: dict) -> LeaderboardCursor:
    return LeaderboardCursor(rating=row["rating"], games=row["games"], handle=row["handle"])


def _cursor(position: LeaderboardCursor, *, before: bool = False) -> str:
    return encode_cursor(LEADERBOARD.kind, position.model_copy(update={"before": before}))
