"""The shapes ladder shows the world: API bodies and event payloads alike.

One model per fact, so a `match.recorded` event carries exactly what
`POST /v1/matches` returned.
"""

from __future__ import annotations

from datetime import datetime
from typing import Generic, TypeVar
from uuid import UUID

from pydantic import BaseModel, Field

T = TypeVar("T")


class Player(BaseModel):
    id: UUID
    handle: str
    display_name: str
    rating: float
    games: int
    created_at: datetime


class RatingChange(BaseModel):
    before: float
    after: float


class MatchRatings(BaseModel):
    a: RatingChange
    b: RatingChange


class Match(BaseModel):
    id: UUID
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
    match_id: UUID
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


class Page(BaseModel, Generic[T]):
    """Every list answers this shape; `next_cursor` is null on the last page."""

    items: list[T]
    next_cursor: str | None = Field(None, description="Opaque; pass as `cursor` for the next page.")
