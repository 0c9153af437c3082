"""Matches: recording (and rating) them, lookup, a player's history."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import NamedTuple
from uuid import UUID

import psycopg
from pydantic import BaseModel, Field, field_validator, model_validator

from ladder.db import Database
from ladder.errors import Conflict, NotFound, SeasonClosed, Unprocessable
from ladder.events import write_event
from ladder.ids import time_ordered_id
from ladder.jobs.store import schedule_recalculation
from ladder.ladders import DEFAULT_LADDER, LadderRow, find_ladder, ladder_by_id, seasons_now
from ladder.models import Match, Page, RatingHistoryEntry
from ladder.pagination import Keyset
from ladder.rank_index.entries import indexed
from ladder.ratings.elo import VALID_SCORES, Standing, rate
from ladder.text import SLUG_PATTERN
from ladder.times import UtcTime

BIGINT_MAX = 2**63 - 1

# A match with both players' ratings before and after it (null once voided
# and recalculated away).
MATCH_SELECT = """
SELECT m.id, l.slug AS ladder, m.seq, m.played_at, m.player_a, m.player_b, m.score_a, m.voided,
       ha.rating_before AS a_before, ha.rating_after AS a_after,
       hb.rating_before AS b_before, hb.rating_after AS b_after
FROM matches m
JOIN ladders l ON l.id = m.ladder_id
LEFT JOIN rating_history ha ON ha.match_id = m.id AND ha.player_id = m.player_a
LEFT JOIN rating_history hb ON hb.match_id = m.id AND hb.player_id = m.player_b
"""


class MatchReport(BaseModel):
    """A match as a game server reports it, valid whoever calls (the API's body is this)."""

    player_a: UUID
    player_b: UUID
    ladder: str = Field(DEFAULT_LADDER, pattern=SLUG_PATTERN, description="The ladder's slug.")
    score_a: float = Field(strict=True, description="A's score: 1 win, 0.5 draw, 0 loss.")
    played_at: UtcTime | None = Field(
        None,
        description="When the match was played: RFC 3339 with a UTC offset, stored in UTC; "
        "default: when it is rated.",
    )

    @field_validator("score_a")
    @classmethod
    def known_score(cls, value: float) -> float:
        # -0.0 == 0.0 in Python; it is still not a score a game server means.
        if value not in VALID_SCORES or math.copysign(1.0, value) < 0:
            raise ValueError("score_a must be 1, 0.5 or 0")
        return float(value)

    @model_validator(mode="after")
    def two_players(self) -> MatchReport:
        if self.player_a == self.player_b:
            raise ValueError("player_a and player_b must be different players")
        return self


class MatchCursor(BaseModel):
    played_at: UtcTime
    seq: int = Field(ge=0, le=BIGINT_MAX)


def _match_from_row(row: dict) -> Match:
    ratings = None
    if row["a_before"] is not None and row["b_before"] is not None:
        ratings = {
            "a": {"before": row["a_before"], "after": row["a_after"]},
            "b": {"before": row["b_before"], "after": row["b_after"]},
        }
    return Match.model_validate({**row, "ratings": ratings})


class Recorded(NamedTuple):
    match: Match
    jobs: list[UUID]  # scheduled by the transaction, to send once it commits
    standings: list[list[str]]  # both players' as written, for the rank index (`indexed`)


def record_match(
    conn: psycopg.Connection, report: MatchReport, max_future_skew: timedelta
) -> Recorded:
    """In the caller's transaction, rate and store a match in its ladder, by that
    ladder's rules; returns it, the jobs it scheduled (a late match is rated at once,
    and a recalculation of its ladder from its point restores replay order) and the
    standings it wrote."""
    try:
        ladder = find_ladder(conn, report.ladder)
    except NotFound:
        raise Unprocessable(f"ladder: no ladder {report.ladder!r}") from None
    recorded, recalc_from = _rate_and_store(conn, ladder, report, max_future_skew)
    if recalc_from is None:
        return recorded
    played_at, seq = recalc_from
    job = schedule_recalculation(conn, ladder_id=ladder.id, from_played_at=played_at, from_seq=seq)
    return recorded._replace(jobs=[job])


def void_match(conn: psycopg.Connection, match_id: UUID) -> UUID:
    """In the caller's transaction, void a match and schedule the recalculation that
    removes it; returns the job id."""
    row = conn.execute(
        "SELECT m.played_at, m.seq, m.player_a, m.player_b, m.voided, m.ladder_id, l.slug,"
        " l.seasons IS NOT NULL AS seasoned"
        " FROM matches m JOIN ladders l ON l.id = m.ladder_id WHERE m.id = %s FOR UPDATE OF m",
        (match_id,),
    ).fetchone()
    if row is None:
        raise NotFound(f"no match with id {match_id}")
    if row["voided"]:
        raise Conflict(f"match {match_id} is already voided")
    if row["seasoned"]:
        _refuse_void_in_closed_season(conn, row["ladder_id"], match_id, row["played_at"])
    conn.execute("UPDATE matches SET voided = true, voided_at = now() WHERE id = %s", (match_id,))
    job_id = schedule_recalculation(
        conn, ladder_id=row["ladder_id"], from_played_at=row["played_at"], from_seq=row["seq"]
    )
    write_event(
        conn,
        "match.voided",
        {
            "ladder": row["slug"],
            "match_id": match_id,
            "player_a": row["player_a"],
            "player_b": row["player_b"],
            "job_id": job_id,
        },
    )
    return job_id


def _refuse_void_in_closed_season(
    conn: psycopg.Connection, ladder_id: int, match_id: UUID, played_at: datetime
) -> None:
    seasons, now = seasons_now(conn, ladder_id)
    season = seasons.closed_season(played_at, now) if seasons else None
    if season is not None:
        raise Conflict(f"match {match_id} was played in season {season}, which has closed")


def _rate_and_store(
    conn: psycopg.Connection, ladder: LadderRow, report: MatchReport, max_future_skew: timedelta
) -> tuple[Recorded, tuple[datetime, int] | None]:
    """Rate and store the match; returns it and where a recalculation must start to
    restore rating order (None: it is in order)."""
    players = _lock_standings(conn, ladder, report)

    # seq and the default played_at are taken while both players are locked,
    # so for matches sharing a player recording order and rating order agree.
    clock = conn.execute("SELECT nextval('match_seq') AS seq, clock_timestamp() AS now").fetchone()
    seq, now = clock["seq"], clock["now"]
    played_at = report.played_at or now
    if played_at > now + max_future_skew:
        raise Unprocessable(f"played_at {played_at.isoformat()} is in the future")
    # Late if either player has a rated match after it, whether its time was given or
    # taken now: a game server with a fast clock can record a match in the (allowed)
    # future, and a match reported after it without a time belongs before it.
    late = _has_later_match(conn, ladder, report, played_at)
    recalc_from = (played_at, seq) if late else None
    if ladder.seasons is not None:
        recalc_from = _season_order(conn, ladder, played_at, seq, now) or recalc_from

    a, b = players[report.player_a], players[report.player_b]
    after_a, after_b = rate(
        Standing(a["rating"], a["games"]),
        Standing(b["rating"], b["games"]),
        report.score_a,
        ladder.rules,
    )
    match_id = time_ordered_id()
    conn.execute(
        "INSERT INTO matches (id, ladder_id, seq, played_at, player_a, player_b, score_a)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s)",
        (match_id, ladder.id, seq, played_at, report.player_a, report.player_b, report.score_a),
    )
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO rating_history"
            " (player_id, match_id, ladder_id, played_at, seq, rating_before, rating_after)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s)",
            [
                (report.player_a, match_id, ladder.id, played_at, seq, a["rating"], after_a.rating),
                (report.player_b, match_id, ladder.id, played_at, seq, b["rating"], after_b.rating),
            ],
        )
        cur.executemany(
            "UPDATE standings SET rating = %s, games = %s, updated_at = now(),"
            " last_played_at = greatest(last_played_at, %s), version = version + 1"
            f" WHERE ladder_id = %s AND player_id = %s RETURNING {indexed()}",
            [
                (after_a.rating, after_a.games, played_at, ladder.id, report.player_a),
                (after_b.rating, after_b.games, played_at, ladder.id, report.player_b),
            ],
            returning=True,
        )
        standings = []
        while True:
            standings.extend(row["indexed"] for row in cur.fetchall())
            if not cur.nextset():
                break
    match = Match(
        id=match_id,
        ladder=ladder.slug,
        seq=seq,
        played_at=played_at,
        player_a=report.player_a,
        player_b=report.player_b,
        score_a=report.score_a,
        ratings={
            "a": {"before": a["rating"], "after": after_a.rating},
            "b": {"before": b["rating"], "after": after_b.rating},
        },
    )
    write_event(conn, "match.recorded", match)
    write_event(
        conn,
        "leaderboard.changed",
        {
            "ladder": ladder.slug,
            "reason": "match.recorded",
            "players": [
                {
                    "player_id": pid,
                    "handle": players[pid]["handle"],
                    "rating": after.rating,
                    "games": after.games,
                }
                for pid, after in ((report.player_a, after_a), (report.player_b, after_b))
            ],
        },
    )
    return Recorded(match, [], standings), recalc_from


def _season_order(
    conn: psycopg.Connection, ladder: LadderRow, played_at: datetime, seq: int, now: datetime
) -> tuple[datetime, int] | None:
    """Refuse a match in a closed season; say where a recalculation must start when a
    soft reset and the match are out of rating order.

    The ladder's season state is read again here, under the standings locks that a
    close and a recalculation's apply also take, so it is current. A reset lives in
    rating history only once a recalculation wrote it (scheduled at each boundary):
    a match in a season whose reset is not there yet, or one before a reset already
    there, is rated at once and replayed with the reset in place.
    """
    seasons = ladder_by_id(conn, ladder.id).seasons
    if seasons is None:  # removed by a PATCH since the ladder was read
        return None
    season = seasons.closed_season(played_at, now)
    if season is not None:
        raise SeasonClosed(
            f"played_at {played_at.isoformat()} is in season {season} of ladder"
            f" {ladder.slug!r}, which has closed"
        )
    missing = seasons.first_unwritten_reset()
    if missing is not None and missing <= played_at:
        return (missing, 0)  # replayed from the first reset not written, with it in place
    if seasons.reset_through is not None and played_at < seasons.reset_through:
        return (played_at, seq)
    return None


STANDINGS_FOR_UPDATE = (
    "SELECT player_id, handle, rating, games FROM standings"
    " WHERE ladder_id = %s AND player_id = ANY(%s) ORDER BY player_id FOR UPDATE"
)


def _lock_standings(
    conn: psycopg.Connection, ladder: LadderRow, report: MatchReport
) -> dict[UUID, dict]:
    """Both players' standings in the ladder, locked in id order; a player's first match
    in the ladder creates their standing at the ladder's initial rating.

    Every lock is taken in id order, so concurrent reports sharing a player serialize
    and never deadlock: the insert comes first, one statement in id order (it waits
    on another transaction's uncommitted insert of the same standing, and locks only
    what it inserts), then the rows are locked in id order. Locking the existing rows
    first and inserting the missing one after could take ids out of order.
    """
    ids = sorted([report.player_a, report.player_b])
    conn.execute(
        "INSERT INTO standings (ladder_id, player_id, handle, rating, games)"
        " SELECT %s, id, handle, %s, 0 FROM players WHERE id = ANY(%s) ORDER BY id"
        " ON CONFLICT DO NOTHING",
        (ladder.id, ladder.rules.initial, ids),
    )
    rows = conn.execute(STANDINGS_FOR_UPDATE, (ladder.id, ids)).fetchall()
    players = {row["player_id"]: row for row in rows}
    for field in ("player_a", "player_b"):
        if getattr(report, field) not in players:
            raise Unprocessable(f"{field}: no player with id {getattr(report, field)}")
    return players


def _has_later_match(
    conn: psycopg.Connection, ladder: LadderRow, report: MatchReport, played_at: datetime
) -> bool:
    """Whether either player already has a match later in the ladder's rating order.

    Asked of `matches`, not of the history: an imported match has no history until its
    recalculation rates it, and a match rated at once against standings that miss it
    must be replayed. Voided ones count too: until their recalculation runs, the
    standings still hold them.
    """
    row = conn.execute(
        "SELECT EXISTS (SELECT 1 FROM matches WHERE player_a = ANY(%(players)s)"
        " AND ladder_id = %(ladder)s AND played_at > %(at)s)"
        " OR EXISTS (SELECT 1 FROM matches WHERE player_b = ANY(%(players)s)"
        " AND ladder_id = %(ladder)s AND played_at > %(at)s) AS late",
        {"players": [report.player_a, report.player_b], "ladder": ladder.id, "at": played_at},
    ).fetchone()
    return row["late"]


def get_match(db: Database, match_id: UUID) -> Match:
    row = db.run(
        lambda conn: conn.execute(MATCH_SELECT + " WHERE m.id = %s", (match_id,)).fetchone()
    )
    if row is None:
        raise NotFound(f"no match with id {match_id}")
    return _match_from_row(row)


MATCHES = Keyset("matches", MatchCursor)
RATINGS = Keyset("ratings", MatchCursor)


def _newest_first(after: MatchCursor | None, alias: str = "") -> tuple[str, dict]:
    """The condition for rows after `after` in `(played_at, seq)` descending, and its
    parameters."""
    if after is None:
        return "", {}
    condition = f" AND ({alias}played_at, {alias}seq) < (%(at)s, %(seq)s)"
    return condition, {"at": after.played_at, "seq": after.seq}


def ladder_of_player(conn: psycopg.Connection, slug: str, player_id: UUID) -> int:
    """The id of the ladder called `slug`, checking in the same round trip that it and
    the player exist (`NotFound` naming which does not)."""
    row = conn.execute(
        "SELECT (SELECT id FROM ladders WHERE slug = %s) AS ladder,"
        " EXISTS (SELECT 1 FROM players WHERE id = %s) AS player",
        (slug, player_id),
    ).fetchone()
    if row["ladder"] is None:
        raise NotFound(f"no ladder {slug!r}")
    if not row["player"]:
        raise NotFound(f"no player with id {player_id}")
    return row["ladder"]


def list_player_matches(
    db: Database, player_id: UUID, *, ladder: str, limit: int, cursor: str | None
) -> Page[Match]:
    """A player's matches in a ladder, newest first in rating order `(played_at, seq)`."""
    keyset, params = _newest_first(MATCHES.after(cursor), "m.")
    params |= {"player": player_id, "limit": limit + 1}
    # One index scan per side of the match, merged: an OR over both columns
    # could not walk an index in order.
    sides = [
        f"({MATCH_SELECT} WHERE m.{side} = %(player)s AND m.ladder_id = %(ladder)s{keyset}"
        " ORDER BY m.played_at DESC, m.seq DESC LIMIT %(limit)s)"
        for side in ("player_a", "player_b")
    ]
    query = " UNION ALL ".join(sides) + " ORDER BY played_at DESC, seq DESC LIMIT %(limit)s"

    def work(conn: psycopg.Connection) -> list[dict]:
        params["ladder"] = ladder_of_player(conn, ladder, player_id)
        return conn.execute(query, params).fetchall()

    return MATCHES.page(
        Page[Match],
        db.run(work),
        limit,
        _match_from_row,
        lambda last: MatchCursor(played_at=last.played_at, seq=last.seq),
    )


def list_rating_history(
    db: Database, player_id: UUID, *, ladder: str, limit: int, cursor: str | None
) -> Page[RatingHistoryEntry]:
    """A player's rating in a ladder after each rated match, newest first."""
    keyset, params = _newest_first(RATINGS.after(cursor))
    params |= {"player": player_id, "limit": limit + 1}

    def work(conn: psycopg.Connection) -> list[dict]:
        params["ladder"] = ladder_of_player(conn, ladder, player_id)
        return conn.execute(
            "SELECT match_id, reason, seq, rating_before AS before, rating_after AS after,"
            " played_at AS at"
            " FROM rating_history WHERE player_id = %(player)s AND ladder_id = %(ladder)s"
            + keyset
            + " ORDER BY played_at DESC, seq DESC LIMIT %(limit)s",
            params,
        ).fetchall()

    return RATINGS.page(
        Page[RatingHistoryEntry],
        db.run(work),
        limit,
        RatingHistoryEntry.model_validate,
        lambda last: MatchCursor(played_at=last.at, seq=last.seq),
    )
