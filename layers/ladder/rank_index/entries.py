"""How a standing is written in the rank index: the board's total order (rating desc,
games desc, handle asc) as a Redis sorted set's order (score asc, then member bytes).

- score: `-rating`. A Redis score is the same IEEE double as Postgres's
  `double precision`, and it travels as text written by `repr` (the shortest string
  that reads back to the same double) and is read with `strtod`: exact, so two equal
  ratings are equal scores and a difference in the last bit is kept.
- member: `{2**31-1 - games:010d}{handle} {player_id}`. Ties on score are ordered by
  member bytes (memcmp). Games desc becomes the ascending complement of an int4,
  zero-padded so byte order is number order; then the handle, whose characters
  (`[a-z0-9_]`) all sort after the space that ends it, so a handle sorts before every
  longer one it starts (`ab` < `ab_`), as Postgres's `COLLATE "C"` orders them. Handles
  are unique, so the player id after the space never decides an order; it makes the
  member say whose it is.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

MAX_GAMES = 2**31 - 1  # `games` is an int4
GAMES_DIGITS = 10


def indexed_columns(table: str = "") -> str:
    """SQL of a standing as the index takes it: the six text values per standing of
    `scripts/apply.lua` (player id, version, score, member, games, last played in epoch
    microseconds or ''). Postgres computes them as it writes or reads the standing, so
    a rebuild streams them straight from COPY (`table`: an alias with its dot, where a
    statement joins another table). A float8's text is the shortest that reads back to
    the same double (extra_float_digits' default), as is Python's `repr`."""
    t = table
    return (
        f"{t}player_id::text, {t}version::text, (-{t}rating)::text,"
        f" lpad(({MAX_GAMES} - {t}games)::text, {GAMES_DIGITS}, '0') || {t}handle || ' '"
        f" || {t}player_id, {t}games::text,"
        f" coalesce((extract(epoch FROM {t}last_played_at) * 1000000)::int8::text, '')"
    )


def indexed(table: str = "") -> str:
    """`indexed_columns` as one array column (`AS indexed`), for a write's RETURNING."""
    return f"ARRAY[{indexed_columns(table)}] AS indexed"


def score(rating: float) -> str:
    return repr(-float(rating))


def position_key(games: int, handle: str) -> str:
    """The start of the member of whoever stands at (games, handle)."""
    return f"{MAX_GAMES - games:0{GAMES_DIGITS}d}{handle} "


def member(games: int, handle: str, player_id: UUID) -> str:
    return f"{position_key(games, handle)}{player_id}"


def decode(member_text: str, score_value: str | float) -> dict:
    """A board row from a member and its score."""
    handle, player_id = member_text[GAMES_DIGITS:].split(" ")
    return {
        "player_id": UUID(player_id),
        "handle": handle,
        "rating": 0.0 - float(score_value),  # not -x: a score of 0 is rating 0.0, not -0.0
        "games": MAX_GAMES - int(member_text[:GAMES_DIGITS]),
    }


def epoch_micros(moment: datetime) -> int:
    """A timestamptz as whole microseconds since the epoch: an integer below 2**53, so
    exact as a Redis score, and the inactivity cutoff compares as Postgres does."""
    delta = moment - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


EPOCH = datetime.fromisoformat("1970-01-01T00:00:00+00:00")
