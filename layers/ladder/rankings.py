"""A player's standing in a ladder: rating, rank and percentile on its board, peak.

Ranks are positions in the board order (rating desc, games desc, handle asc)
among ranked standings (`leaderboard.RANKED`), computed here from Postgres:
counting the rows above a player costs O(rank) with the board index.
"""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

import psycopg

from ladder.db import Database
from ladder.errors import NotFound
from ladder.ladders import find_ladder
from ladder.leaderboard import BEFORE, RANKED
from ladder.models import PlayerStanding


def player_standing(db: Database, slug: str, player_id: UUID) -> PlayerStanding:
    """`NotFound` unless the player has played in the ladder."""
    # One snapshot: the player's row and the count of those above must agree.
    return db.run(lambda conn: _standing(conn, slug, player_id), snapshot=True)


def _standing(conn: psycopg.Connection, slug: str, player_id: UUID) -> PlayerStanding:
    ladder = find_ladder(conn, slug)
    params = {
        "ladder": ladder.id,
        "player": player_id,
        "min_games": ladder.board.min_games,
        "active_since": ladder.board.active_since(datetime.now(UTC)),
    }
    me = conn.execute(
        # coalesce: a standing from an opening balance alone has no last_played_at, which
        # makes the inactivity test null (off the board, as the board's WHERE reads it).
        f"SELECT handle, rating, games, last_played_at, coalesce(({RANKED}), false) AS on_board"
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
    if me["on_board"]:
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
