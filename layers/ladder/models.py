"""The shapes ladder shows the world: API bodies and event payloads alike.

One model per fact, so a `match.recorded` event carries exactly what
`POST /v1/matches` returned.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Generic, Literal, TypeVar
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ladder.periods import Period
from ladder.ratings.elo import RatingRules
from ladder.times import UtcTime

T = TypeVar("T")

# The ladder every route without one in its path means; it always exists.
DEFAULT_LADDER = "default"


class Player(BaseModel):
    id: UUID
    handle: str
    display_name: str
    rating: float = Field(description="In the ladder `default`.")
    games: int = Field(description="In the ladder `default`.")
    created_at: datetime


class RatingChange(BaseModel):
    before: float
    after: float


class MatchRatings(BaseModel):
    a: RatingChange
    b: RatingChange


class Match(BaseModel):
    id: UUID
    ladder: str = Field(description="The ladder's slug.")
    seq: int
    played_at: datetime
    player_a: UUID
    player_b: UUID
    score_a: float
    voided: bool = False
    ratings: MatchRatings | None = Field(
        description="Both players' ratings before and after; null once voided and recalculated."
    )


class RatingHistoryEntry(BaseModel):
    match_id: UUID | None = Field(description="Null for a season's reset or an opening balance.")
    reason: Literal["match", "season_reset", "import"] = "match"
    seq: int
    before: float
    after: float
    at: datetime


class LeaderboardEntry(BaseModel):
    rank: int
    player_id: UUID
    handle: str
    rating: float
    games: int
    provisional: bool = Field(description="Fewer games than the ladder's provisional_games.")


class Page(BaseModel, Generic[T]):
    """Every list answers this shape; `next_cursor` is null on the last page."""

    items: list[T]
    next_cursor: str | None = Field(None, description="Opaque; pass as `cursor` for the next page.")


class LeaderboardPage(Page[LeaderboardEntry]):
    """A page of a board; it can be walked both ways."""

    prev_cursor: str | None = Field(
        None, description="Opaque; pass as `cursor` for the page above (null on the first)."
    )


class PlayerStanding(BaseModel):
    """A player's standing in one ladder."""

    ladder: str
    player_id: UUID
    handle: str
    rating: float
    games: int
    provisional: bool = Field(description="Fewer games than the ladder's provisional_games.")
    on_board: bool = Field(description="Ranked under the ladder's board policy now.")
    rank: int | None = Field(description="1-based position on the board; null off it.")
    percentile: float | None = Field(
        description="100 × (board size − rank) / board size; null off the board."
    )
    peak_rating: float = Field(description="The highest rating the player has held here.")
    last_played_at: datetime | None


class Rules(BaseModel):
    """A ladder's rating parameters (SPEC.md "Ratings") as stored and shown. Values are
    bounded where a client changes them (`RulesChange`), not here: a ladder the upgrade
    made from the deployment's settings keeps whatever they were."""

    initial: float
    provisional_games: int
    k_provisional: float
    k_established: float
    master_threshold: float
    k_master: float
    max_rating_gap: float | None = Field(
        None, description="Caps |R_b − R_a| inside the expected score (FIDE: 400); null: no cap."
    )

    def to_rating_rules(self) -> RatingRules:
        return RatingRules(**self.model_dump())


class RulesChange(BaseModel):
    """Rating parameters a client sets; the ones it does not name stay as they are (or
    take the deployment's defaults in a new ladder). Bounded so that no rating can
    overflow the expected score's power of ten."""

    # Strict: a number is a JSON number (not "1", not true), a count an integer.
    model_config = ConfigDict(extra="forbid", strict=True)

    initial: float = Field(None, ge=0, le=10_000, allow_inf_nan=False)
    provisional_games: int = Field(None, ge=0, le=10_000)
    k_provisional: float = Field(None, gt=0, le=1_000, allow_inf_nan=False)
    k_established: float = Field(None, gt=0, le=1_000, allow_inf_nan=False)
    master_threshold: float = Field(None, ge=0, le=100_000, allow_inf_nan=False)
    k_master: float = Field(None, gt=0, le=1_000, allow_inf_nan=False)
    max_rating_gap: float | None = Field(None, gt=0, le=10_000, allow_inf_nan=False)


class BoardPolicy(BaseModel):
    """Who is ranked on the board; never what anyone's rating is."""

    # Strict: a number is a JSON number (not "1", not true), a count an integer.
    model_config = ConfigDict(extra="forbid", strict=True)

    min_games: int = Field(1, ge=1, le=1_000_000, description="Games before a player is ranked.")
    inactive_after_days: int | None = Field(
        None,
        ge=1,
        le=3650,
        description="Unranked after this many days without a match in the ladder (null: never).",
    )

    def active_since(self, at: datetime) -> datetime | None:
        """Whoever last played before this is off the board at `at` (None: nobody)."""
        if self.inactive_after_days is None:
            return None
        return at - timedelta(days=self.inactive_after_days)


class SeasonSchedule(BaseModel):
    """When a ladder's seasons start and close, and what their boundary does to ratings.
    Season n (from 1) covers [anchor + (n-1) × every, anchor + n × every)."""

    model_config = ConfigDict(extra="forbid")

    every: str = Field(
        description="An ISO-8601 duration of at least one minute: P7D, P1M, PT5M.",
        examples=["P7D"],
        max_length=40,
    )
    anchor: UtcTime = Field(description="The first season's start.")
    grace_seconds: int = Field(
        3600,
        ge=0,
        le=30 * 86400,
        strict=True,
        description="A season closes this long after it ends; late matches are taken until then.",
    )
    reset: Literal["none", "soft"] = Field(
        "none",
        description="soft: at each boundary, rating → initial + (rating − initial) × (1 − factor).",
    )
    factor: float | None = Field(None, gt=0, le=1, strict=True, allow_inf_nan=False)

    @field_validator("every")
    @classmethod
    def a_period(cls, value: str) -> str:
        Period.parse(value)  # raises ValueError naming what is wrong
        return value

    @model_validator(mode="after")
    def factor_with_soft_reset(self) -> SeasonSchedule:
        if (self.reset == "soft") != (self.factor is not None):
            raise ValueError("factor is required with reset soft, and only with it")
        return self

    @property
    def period(self) -> Period:
        return Period.parse(self.every)


class CurrentSeason(BaseModel):
    number: int
    starts_at: datetime
    ends_at: datetime


class Season(BaseModel):
    number: int = Field(description="0: the time before the first season's anchor.")
    starts_at: datetime | None = Field(description="Null for season 0.")
    ends_at: datetime
    closes_at: datetime = Field(
        description="ends_at + grace: matches played in it are taken until then."
    )
    closed: bool = Field(description="Past its grace (or frozen): it takes no match.")
    frozen: bool = Field(
        description="Its final standings are stored (`…/seasons/{number}/standings`)."
    )
    players: int | None = Field(None, description="Standings frozen at the close.")
    ranked: int | None = Field(None, description="Of them, on the board.")


class SeasonStanding(BaseModel):
    rank: int
    percentile: float
    player_id: UUID
    handle: str
    rating: float
    games: int
    provisional: bool


class Ladder(BaseModel):
    slug: str
    name: str
    rules: Rules
    board: BoardPolicy
    seasons: SeasonSchedule | None = Field(None, description="Null: this ladder has no seasons.")
    current_season: CurrentSeason | None = Field(
        None, description="The season now under way; null without seasons or before the first."
    )
    created_at: datetime
    updated_at: datetime
