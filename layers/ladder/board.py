"""The board in SQL: who is ranked in a ladder, and where a row stands relative to a
position in the board order (rating desc, games desc, handle asc)."""

from __future__ import annotations

from datetime import datetime

from ladder.ladders import LadderRow

# Ranked: standings of the ladder with at least the board's minimum of games, active
# within its inactivity window if it has one. `games > 0` is spelled out so the partial
# board index applies whatever the minimum is.
RANKED = (
    "ladder_id = %(ladder)s AND games > 0 AND games >= %(min_games)s"
    " AND (%(active_since)s::timestamptz IS NULL OR last_played_at >= %(active_since)s)"
)
# Where a row is relative to a position (%(r)s, %(g)s, %(h)s) in board order (rating
# desc, games desc, handle asc). Mixed directions rule out a row comparison, so each is
# spelled out, and each leads with a bound on rating alone: the index scan then starts
# at the position instead of at the top of the board and filtering its way down.
AFTER = (
    "rating <= %(r)s AND (rating < %(r)s OR (rating = %(r)s AND"
    " (games < %(g)s OR (games = %(g)s AND handle > %(h)s))))"
)
AT_OR_AFTER = AFTER.replace("handle > %(h)s", "handle >= %(h)s")
BEFORE = (
    "rating >= %(r)s AND (rating > %(r)s OR (rating = %(r)s AND"
    " (games > %(g)s OR (games = %(g)s AND handle < %(h)s))))"
)
AT_OR_BEFORE = BEFORE.replace("handle < %(h)s", "handle <= %(h)s")
DOWN = "ORDER BY rating DESC, games DESC, handle ASC"
UP = "ORDER BY rating ASC, games ASC, handle DESC"


def board_params(ladder: LadderRow, now: datetime) -> dict:
    """The parameters of `RANKED` for a ladder at a moment."""
    return {
        "ladder": ladder.id,
        "min_games": ladder.board.min_games,
        "active_since": ladder.board.active_since(now),
    }
