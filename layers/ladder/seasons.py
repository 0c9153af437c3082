"""Seasons at work: the minutely tick that keeps them on schedule, the close that
freezes a season's final standings, and reading them back.

- **Tick** (the scheduler, every minute): for each seasoned ladder, schedule a
  `season.close` job once a season's grace has passed, and, for a soft reset,
  the recalculation that writes the reset of a boundary just crossed (the
  reset is an entry in rating order, so only a recalculation writes it and the
  live path and a full recalculation cannot disagree).
- **Close** (`season.close` job): seasons close in order, each in one
  transaction that blocks writers of standings (readers never): final standings
  as of the end instant, rank and percentile by the board policy of the close,
  a `seasons` row, and a `season.closed` event. Idempotent (a closed season is
  skipped) and late-safe (the standings as of the end instant do not depend on
  when they are computed, as nothing may enter a season after its grace). It
  waits for any pending recalculation of the ladder, which could still change
  the season.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import psycopg
from pydantic import BaseModel, Field

from ladder.db import Database
from ladder.errors import NotFound
from ladder.events import write_event
from ladder.events.registry import ClosedSeason
from ladder.jobs import store
from ladder.jobs.envelope import RECALCULATE, SEASON_CLOSE
from ladder.jobs.errors import RecalculationBusy
from ladder.ladders import LadderRow, find_ladder, ladder_by_id
from ladder.models import Page, Season, SeasonStanding
from ladder.observability import MetricUnit, logger, metrics
from ladder.pagination import Keyset
from ladder.ratings.recalculation import Point, standings_before
from ladder.season_calendar import SeasonState, copy_text


def tick(db: Database, now: datetime | None = None) -> list[UUID]:
    """Schedule what the seasons of every ladder need at `now` (default: the database's
    clock, which the writers' checks read too); returns the jobs to send. One ladder's
    failure is logged and skips only that ladder."""

    def ladders(conn: psycopg.Connection) -> list[int]:
        rows = conn.execute("SELECT id FROM ladders WHERE seasons IS NOT NULL ORDER BY id")
        return [row["id"] for row in rows.fetchall()]

    jobs, lag = [], 0.0
    for ladder_id in db.run(ladders):
        try:
            due, overdue = db.run(lambda conn, ladder_id=ladder_id: _due(conn, ladder_id, now))
        except Exception:  # the other ladders' seasons must go on
            logger.exception("a ladder's seasons could not be ticked", ladder_id=ladder_id)
            metrics.add_metric(name="SeasonTickFailures", unit=MetricUnit.Count, value=1)
            continue
        jobs += due
        lag = max(lag, overdue)
    # How long the most overdue season has waited to be frozen (the SeasonCloseOverdue
    # alarm): a close deferred behind a failing recalculation shows here.
    metrics.add_metric(name="SeasonCloseLagSeconds", unit=MetricUnit.Seconds, value=lag)
    return jobs


def _due(
    conn: psycopg.Connection, ladder_id: int, now: datetime | None
) -> tuple[list[UUID], float]:
    """The jobs a ladder's seasons need now, and how many seconds its next close is
    overdue (0 if it is not due)."""
    now = now or _clock(conn)
    ladder = ladder_by_id(conn, ladder_id)
    seasons, jobs = ladder.seasons, []
    if seasons is None:
        return jobs, 0.0
    closes_at = seasons.closes_at(seasons.next_to_close)
    overdue = max(0.0, (now - closes_at).total_seconds())
    if closes_at <= now and not _pending(conn, SEASON_CLOSE, ladder):
        jobs.append(store.schedule_job(conn, SEASON_CLOSE, {"ladder": ladder.id}))
    missing = seasons.first_unwritten_reset()
    if missing is not None and missing <= now:
        jobs.append(
            store.schedule_recalculation(
                conn, ladder_id=ladder.id, from_played_at=missing, from_seq=0
            )
        )
    return jobs, overdue


def _clock(conn: psycopg.Connection) -> datetime:
    return conn.execute("SELECT clock_timestamp() AS now").fetchone()["now"]


def _pending(conn: psycopg.Connection, job_type: str, ladder: LadderRow) -> bool:
    row = conn.execute(
        "SELECT EXISTS (SELECT 1 FROM jobs WHERE type = %s AND status IN ('queued', 'running')"
        " AND coalesce((payload->>'ladder')::integer, 1) = %s) AS pending",
        (job_type, ladder.id),
    ).fetchone()
    return row["pending"]


def close_due(db: Database, ladder_id: int, now: datetime | None = None) -> list[int]:
    """Close, in order, every season of the ladder whose grace has passed at `now`
    (default: the database's clock, as the writers' checks read it); returns their
    numbers. `RecalculationBusy` while a recalculation of the ladder is
    pending (the job is deferred and runs again after it)."""
    closed = []
    while (number := db.run(lambda conn: _close_next(conn, ladder_id, now))) is not None:
        closed.append(number)
        metrics.add_metric(name="SeasonsClosed", unit=MetricUnit.Count, value=1)
    return closed


def _close_next(conn: psycopg.Connection, ladder_id: int, now: datetime | None) -> int | None:
    # Writers of standings wait (they check their season under their locks), readers do
    # not; then the ladder's row, so two closes of one ladder take turns. In this order,
    # as a recalculation's apply takes them.
    conn.execute("LOCK TABLE standings IN SHARE MODE")
    conn.execute("SELECT id FROM ladders WHERE id = %s FOR UPDATE", (ladder_id,))
    now = now or _clock(conn)
    ladder = ladder_by_id(conn, ladder_id)
    seasons = ladder.seasons
    if seasons is None:
        return None
    number = seasons.next_to_close
    if seasons.closes_at(number) > now:
        return None
    if _pending(conn, RECALCULATE, ladder):
        raise RecalculationBusy(
            f"a recalculation of ladder {ladder.slug!r} is pending; season {number} closes after it"
        )
    missing = seasons.first_unwritten_reset()
    if number >= 1 and missing is not None and missing <= seasons.start(number):
        # The season's own reset is not in history yet: it is part of its standings.
        raise RecalculationBusy(
            f"the reset at {missing.isoformat()} of ladder {ladder.slug!r} is not written yet;"
            f" season {number} closes after the recalculation that writes it"
        )
    end = seasons.end(number)
    final = standings_before(conn, ladder, Point(end, 0))
    handles = {
        row["player_id"]: row["handle"]
        for row in conn.execute(
            "SELECT player_id::text AS player_id, handle FROM standings WHERE ladder_id = %s",
            (ladder.id,),
        ).fetchall()
    }
    return _freeze(conn, ladder, seasons, number, final, handles)


def _freeze(
    conn: psycopg.Connection,
    ladder: LadderRow,
    seasons: SeasonState,
    number: int,
    final: dict[str, list],
    handles: dict[str, str],
) -> int:
    end, board, rules = seasons.end(number), ladder.board, ladder.rules
    # The board policy as the live board applies it (`ladder.leaderboard.RANKED`), at
    # the end instant; last played_at is COPY text, so the bound is too.
    since = board.active_since(end)
    since = None if since is None else copy_text(since)
    ranked = sorted(
        (
            player
            for player, (_, games, last) in final.items()
            if games >= board.min_games and (since is None or (last or "") >= since)
        ),
        key=lambda player: (-final[player][0], -final[player][1], handles[player]),
    )
    ranks = {player: rank for rank, player in enumerate(ranked, start=1)}
    size = len(ranked)
    conn.execute(
        "INSERT INTO seasons (ladder_id, number, starts_at, ends_at, players, ranked)"
        " VALUES (%s, %s, %s, %s, %s, %s)",
        (ladder.id, number, seasons.start(number), end, len(final), size),
    )
    with conn.cursor().copy(
        "COPY season_standings (ladder_id, season, player_id, handle, rating, games,"
        " last_played_at, rank, percentile, provisional) FROM STDIN"
    ) as copy:
        for player, (rating, games, last) in final.items():
            rank = ranks.get(player)
            percentile = None if rank is None else 100 * (size - rank) / size
            copy.write_row(
                (
                    ladder.id,
                    number,
                    player,
                    handles[player],
                    rating,
                    games,
                    last,
                    rank,
                    percentile,
                    games < rules.provisional_games,
                )
            )
    write_event(
        conn,
        "season.closed",
        ClosedSeason(
            ladder=ladder.slug,
            season=number,
            starts_at=seasons.start(number),
            ends_at=end,
            players=len(final),
            ranked=size,
        ),
    )
    return number


# Reading seasons back.


class SeasonCursor(BaseModel):
    number: int = Field(ge=0, le=2**31 - 1)


class StandingCursor(BaseModel):
    rank: int = Field(ge=1, le=2**31 - 1)


SEASONS = Keyset("seasons", SeasonCursor)
STANDINGS = Keyset("season-standings", StandingCursor)


def list_seasons(
    db: Database, slug: str, now: datetime, *, limit: int, cursor: str | None
) -> Page[Season]:
    """A ladder's seasons from the current one back to the first, newest first."""
    after = SEASONS.after(cursor)

    def work(conn: psycopg.Connection) -> list[Season]:
        ladder = find_ladder(conn, slug)
        if ladder.seasons is None:
            return []
        seasons = ladder.seasons
        current = seasons.number_at(now)
        # A cursor cannot reach past the current season (nor beyond the calendar).
        top = current if after is None else min(after.number - 1, current)
        numbers = list(range(top, max(-1, top - limit - 1), -1))
        frozen = {
            row["number"]: row
            for row in conn.execute(
                "SELECT number, players, ranked FROM seasons WHERE ladder_id = %s"
                " AND number = ANY(%s)",
                (ladder.id, numbers),
            ).fetchall()
        }
        return [
            Season(
                number=n,
                starts_at=seasons.start(n),
                ends_at=seasons.end(n),
                closes_at=seasons.closes_at(n),
                closed=seasons.closed(n, now),
                frozen=n in frozen,
                players=frozen.get(n, {}).get("players"),
                ranked=frozen.get(n, {}).get("ranked"),
            )
            for n in numbers
        ]

    rows = db.run(work)
    return SEASONS.page(
        Page[Season], rows, limit, lambda s: s, lambda last: SeasonCursor(number=last.number)
    )


def season_standings(
    db: Database, slug: str, number: int, *, limit: int, cursor: str | None
) -> Page[SeasonStanding]:
    """A closed season's frozen board, best first."""
    after = STANDINGS.after(cursor)

    def work(conn: psycopg.Connection) -> list[dict]:
        ladder = find_ladder(conn, slug)
        closed = conn.execute(
            "SELECT 1 FROM seasons WHERE ladder_id = %s AND number = %s", (ladder.id, number)
        ).fetchone()
        if closed is None:
            raise NotFound(f"season {number} of ladder {slug!r} has not closed")
        return conn.execute(
            "SELECT rank, percentile, player_id, handle, rating, games, provisional"
            " FROM season_standings WHERE ladder_id = %s AND season = %s"
            " AND rank IS NOT NULL AND rank > %s ORDER BY rank LIMIT %s",
            (ladder.id, number, after.rank if after else 0, limit + 1),
        ).fetchall()

    return STANDINGS.page(
        Page[SeasonStanding],
        db.run(work),
        limit,
        SeasonStanding.model_validate,
        lambda last: StandingCursor(rank=last.rank),
    )
