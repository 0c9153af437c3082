"""Ladders: independent rating pools, each with its own rules and board policy.

Players are global; a (ladder, player) standing exists from the player's first
match in that ladder. The ladder `default` always exists (the upgrade moved
everything recorded before ladders into it), and every route without a ladder
in its path means it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime

import psycopg
from psycopg.types.json import Jsonb
from pydantic import BaseModel, ConfigDict, Field

from ladder.db import Database
from ladder.errors import Conflict, NotFound, Unprocessable
from ladder.events import write_event
from ladder.models import (
    DEFAULT_LADDER,
    BoardPolicy,
    Ladder,
    Page,
    Rules,
    RulesChange,
    SeasonSchedule,
)
from ladder.pagination import Keyset
from ladder.ratings.elo import RatingRules
from ladder.season_calendar import SeasonState
from ladder.text import SLUG_PATTERN, TEXT_PATTERN

__all__ = ["DEFAULT_LADDER", "BoardPolicy", "Ladder", "Rules"]

LADDER_COLUMNS = (
    "id, slug, name, rules, board, seasons, reset_through, created_at, updated_at,"
    " (SELECT max(number) FROM seasons s WHERE s.ladder_id = ladders.id) AS frozen"
)


class NewLadder(BaseModel):
    """A ladder as an operator creates it."""

    model_config = ConfigDict(extra="forbid")

    slug: str = Field(pattern=SLUG_PATTERN, examples=["ranked-duo"])
    name: str = Field(min_length=1, max_length=64, pattern=TEXT_PATTERN)
    rules: RulesChange | None = Field(None, description="Rules to change from the defaults.")
    board: BoardPolicy = BoardPolicy()
    seasons: SeasonSchedule | None = None


class LadderChange(BaseModel):
    """What PATCH may change; `rules` names only the parameters to change."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=64, pattern=TEXT_PATTERN)
    rules: RulesChange | None = None
    board: BoardPolicy | None = None
    seasons: SeasonSchedule | None = Field(
        None, description="Set or change the schedule, until the first season closes."
    )


@dataclass(frozen=True)
class LadderRow:
    """A ladder as the write paths need it."""

    id: int
    slug: str
    rules: RatingRules
    board: BoardPolicy
    seasons: SeasonState | None = None


class LadderCursor(BaseModel):
    slug: str = Field(pattern=SLUG_PATTERN)


LADDERS = Keyset("ladders", LadderCursor)


def merged_rules(base: RatingRules | Rules, change: RulesChange | None) -> Rules:
    """`base` with the parameters `change` names."""
    current = asdict(base) if isinstance(base, RatingRules) else base.model_dump()
    named = change.model_dump(exclude_unset=True) if change else {}
    return Rules.model_validate({**current, **named})


def _ladder(row: dict) -> Ladder:
    seasons = _season_state(row)
    current = seasons.current(datetime.now(UTC)) if seasons else None
    return Ladder.model_validate({**row, "current_season": current})


def _season_state(row: dict) -> SeasonState | None:
    if row["seasons"] is None:
        return None
    return SeasonState(
        schedule=SeasonSchedule.model_validate(row["seasons"]),
        frozen=row["frozen"],
        reset_through=row["reset_through"],
    )


def _row(row: dict) -> LadderRow:
    return LadderRow(
        id=row["id"],
        slug=row["slug"],
        rules=Rules.model_validate(row["rules"]).to_rating_rules(),
        board=BoardPolicy.model_validate(row["board"]),
        seasons=_season_state(row),
    )


def _select(conn: psycopg.Connection, slug: str, *, lock: bool = False) -> dict:
    """The ladder row called `slug` (locked for update if asked); `NotFound` otherwise."""
    row = conn.execute(
        f"SELECT {LADDER_COLUMNS} FROM ladders WHERE slug = %s" + (" FOR UPDATE" if lock else ""),
        (slug,),
    ).fetchone()
    if row is None:
        raise NotFound(f"no ladder {slug!r}")
    return row


def find_ladder(conn: psycopg.Connection, slug: str) -> LadderRow:
    """The ladder called `slug` in the caller's transaction; `NotFound` otherwise."""
    return _row(_select(conn, slug))


def ladder_by_id(conn: psycopg.Connection, ladder_id: int) -> LadderRow:
    row = conn.execute(
        f"SELECT {LADDER_COLUMNS} FROM ladders WHERE id = %s", (ladder_id,)
    ).fetchone()
    if row is None:
        raise NotFound(f"no ladder with id {ladder_id}")
    return _row(row)


def seasons_now(conn: psycopg.Connection, ladder_id: int) -> tuple[SeasonState | None, datetime]:
    """The ladder's season state and the database's clock, read under the lock every
    writer of standings holds, which a season's close takes turns with: a write
    checking its season here cannot miss a close, and a close cannot miss it."""
    conn.execute("LOCK TABLE standings IN ROW EXCLUSIVE MODE")
    row = conn.execute(
        f"SELECT {LADDER_COLUMNS}, clock_timestamp() AS now FROM ladders WHERE id = %s",
        (ladder_id,),
    ).fetchone()
    return _season_state(row), row["now"]


def get_ladder(db: Database, slug: str) -> Ladder:
    return _ladder(db.run(lambda conn: _select(conn, slug)))


def list_ladders(db: Database, *, limit: int, cursor: str | None) -> Page[Ladder]:
    after = LADDERS.after(cursor)
    rows = db.run(
        lambda conn: conn.execute(
            f"SELECT {LADDER_COLUMNS} FROM ladders WHERE slug > %s ORDER BY slug LIMIT %s",
            (after.slug if after else "", limit + 1),
        ).fetchall()
    )
    return LADDERS.page(
        Page[Ladder], rows, limit, _ladder, lambda last: LadderCursor(slug=last.slug)
    )


# A schedule whose anchor lies further back than this many seasons would have them
# all to close and reset at once (a minutely season anchored in 1970: 30 million).
MAX_SEASONS_ELAPSED = 1000


def _check_schedule(conn: psycopg.Connection, schedule: SeasonSchedule | None) -> None:
    if schedule is None:
        return
    now = conn.execute("SELECT clock_timestamp() AS now").fetchone()["now"]
    elapsed = SeasonState(schedule, frozen=None, reset_through=None).number_at(now)
    if elapsed > MAX_SEASONS_ELAPSED:
        raise Unprocessable(
            f"seasons: the anchor is {elapsed:,} seasons ago; at most"
            f" {MAX_SEASONS_ELAPSED:,} may have passed (move the anchor or lengthen `every`)"
        )


def insert_ladder(conn: psycopg.Connection, new: NewLadder, defaults: RatingRules) -> Ladder:
    """Create a ladder in the caller's transaction; `Conflict` if the slug is taken."""
    _check_schedule(conn, new.seasons)
    rules = merged_rules(defaults, new.rules)
    try:
        with conn.transaction():
            row = conn.execute(
                f"INSERT INTO ladders (slug, name, rules, board, seasons)"
                f" VALUES (%s, %s, %s, %s, %s) RETURNING {LADDER_COLUMNS}",
                (
                    new.slug,
                    new.name,
                    Jsonb(rules.model_dump()),
                    Jsonb(new.board.model_dump()),
                    _schedule_json(new.seasons),
                ),
            ).fetchone()
    except psycopg.errors.UniqueViolation:
        raise Conflict(f"ladder {new.slug!r} exists") from None
    ladder = _ladder(row)
    write_event(conn, "ladder.created", ladder)
    return ladder


def update_ladder(
    conn: psycopg.Connection, slug: str, change: LadderChange
) -> tuple[Ladder, LadderRow | None]:
    """Apply `change` in the caller's transaction; returns the ladder and, when its rules
    or seasons changed, the ladder as its recalculation needs it (the caller schedules
    it). Seasons change only until the first one closes: a frozen season's standings
    were computed with its boundaries."""
    row = _select(conn, slug, lock=True)
    current = _ladder(row)
    seasons = current.seasons
    if "seasons" in change.model_fields_set and change.seasons != current.seasons:
        # Asked again now that the row is locked: a close committed while this waited
        # is not in the snapshot the row was read with.
        frozen = conn.execute(
            "SELECT EXISTS (SELECT 1 FROM seasons WHERE ladder_id = %s) AS frozen", (row["id"],)
        ).fetchone()["frozen"]
        if frozen:
            raise Conflict(f"ladder {slug!r} has closed seasons: its schedule is fixed")
        _check_schedule(conn, change.seasons)
        seasons = change.seasons
    rules = merged_rules(current.rules, change.rules)
    # Like rules, a board change names only what changes.
    board = current.board
    if change.board is not None:
        named = change.board.model_dump(exclude_unset=True)
        board = BoardPolicy.model_validate({**current.board.model_dump(), **named})
    name = change.name or current.name
    row = conn.execute(
        f"UPDATE ladders SET name = %s, rules = %s, board = %s, seasons = %s,"
        f" reset_through = CASE WHEN seasons IS NOT DISTINCT FROM %s THEN reset_through END,"
        f" updated_at = now() WHERE id = %s RETURNING {LADDER_COLUMNS}",
        (
            name,
            Jsonb(rules.model_dump()),
            Jsonb(board.model_dump()),
            _schedule_json(seasons),
            _schedule_json(seasons),
            row["id"],
        ),
    ).fetchone()
    ladder = _ladder(row)
    write_event(conn, "ladder.updated", ladder)
    rerate = rules != current.rules or seasons != current.seasons
    return ladder, (_row(row) if rerate else None)


def _schedule_json(schedule: SeasonSchedule | None) -> Jsonb | None:
    return None if schedule is None else Jsonb(schedule.model_dump(mode="json"))
