"""A player's standing in a ladder: rating, rank and percentile on its board, peak.

Ranks are positions in the board order (rating desc, games desc, handle asc) among
ranked standings (`board.RANKED`). The rank index answers in O(log n) when it holds
the version of the player's standing that Postgres returns; otherwise (Redis down,
no live index, a write between the two reads) Postgres counts the rows above the
player, O(rank) with the board index, in the snapshot that read the player.
"""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

import psycopg

from ladder.board import BEFORE, RANKED, board_params
from ladder.errors import NotFound
from ladder.ladders import find_ladder
from ladder.models import PlayerStanding
from ladder.observability import MetricUnit, metrics
from ladder.rank_index.store import IndexedRank
from ladder.rank_index.sync import request_rebuild
from ladder.resources import Resources


def player_standing(res: Resources, slug: str, player_id: UUID) -> PlayerStanding:
    """`NotFound` unless the player has played in the ladder."""
    now = datetime.now(UTC)
    indexed = res.index.rank(slug, player_id, now)
    # One snapshot: the player's row and the count of those above must agree.
    standing = res.db.run(
        lambda conn: _standing(conn, slug, player_id, now, indexed), snapshot=True
    )
    if indexed is None and not res.cache.degraded:
        request_rebuild(res, slug)
    return standing


def _standing(
    conn: psycopg.Connection,
    slug: str,
    player_id: UUID,
    now: datetime,
    indexed: IndexedRank | None,
) -> PlayerStanding:
    ladder = find_ladder(conn, slug)
    params = {**board_params(ladder, now), "player": player_id}
    me = conn.execute(
        # coalesce: a standing from an opening balance alone has no last_played_at, which
        # makes the inactivity test null (off the board, as the board's WHERE reads it).
        "SELECT handle, rating, games, last_played_at, version,"
        f" coalesce(({RANKED}), false) AS on_board"
        " FROM standings WHERE ladder_id = %(ladder)s AND player_id = %(player)s",
        params,
    ).fetchone()
    if me is None or me["games"] == 0:
        raise NotFound(f"player {player_id} has no match in ladder {slug!r}")
    # Held: after any entry, and before a match (the initial rating, if the first match
    # lost); not before a balance's entry, which only records where the ladder starts.
    peak = conn.execute(
        "SELECT max(CASE WHEN reason = 'match' THEN greatest(rating_before, rating_after)"
        " ELSE rating_after END) AS peak FROM rating_history"
        " WHERE player_id = %(player)s AND ladder_id = %(ladder)s",
        params,
    ).fetchone()["peak"]
    rank = percentile = None
    if (
        me["on_board"]
        and indexed is not None
        and indexed.version == me["version"]
        and indexed.rank is not None
    ):
        metrics.add_metric(name="RankIndexRead", unit=MetricUnit.Count, value=1)
        rank = indexed.rank
        percentile = 100 * (indexed.size - rank) / indexed.size
    elif me["on_board"]:
        metrics.add_metric(name="RankIndexFallback", unit=MetricUnit.Count, value=1)
        at = {"r": me["rating"], "g": me["games"], "h": me["handle"]}
        counted = conn.execute(
            f"SELECT count(*) FILTER (WHERE {BEFORE}) AS ahead, count(*) AS board"
            f" FROM standings WHERE {RANKED}",
            {**params, **at},
        ).fetchone()
        rank = counted["ahead"] + 1
        percentile = 100 * (counted["board"] - rank) / counted["board"]
    return PlayerStanding(
        ladder=slug,
        player_id=player_id,
        handle=me["handle"],
        rating=me["rating"],
        games=me["games"],
        provisional=me["games"] < ladder.rules.provisional_games,
        on_board=me["on_board"],
        rank=rank,
        percentile=percentile,
        peak_rating=me["rating"] if peak is None else max(peak, me["rating"]),
        last_played_at=me["last_played_at"],
    )
