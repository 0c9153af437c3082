"""/v1/matches"""

from __future__ import annotations

import math
from uuid import UUID

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ladder import commands
from ladder.api.deps import Admin, ResourcesDep, Writer
from ladder.api.routers.params import IdempotencyKey, OptionalIdempotencyKey, caller, written
from ladder.matches import MatchReport, get_match
from ladder.models import Match
from ladder.ratings.elo import VALID_SCORES
from ladder.times import UtcTime

router = APIRouter(prefix="/v1/matches", tags=["matches"])


class MatchCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    player_a: UUID
    player_b: UUID
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
    def two_players(self) -> MatchCreate:
        if self.player_a == self.player_b:
            raise ValueError("player_a and player_b must be different players")
        return self


@router.post(
    "",
    status_code=201,
    summary="Record and rate a match",
    responses={
        201: {
            "description": "Rated and stored; or, with `Idempotent-Replayed: true`, the answer "
            "of the earlier request with this key (nothing was recorded again)",
        },
        422: {"description": "invalid body, unknown player, or a reused key"},
    },
)
def post_match(
    body: MatchCreate, idempotency_key: IdempotencyKey, principal: Writer, res: ResourcesDep
) -> Match:
    report = MatchReport(**body.model_dump())
    return written(commands.report_match(res, caller(principal, idempotency_key), report))


class JobAccepted(BaseModel):
    job_id: UUID


@router.post(
    "/{match_id}/void",
    status_code=202,
    summary="Void a match; a recalculation removes it from every rating",
    responses={404: {"description": "no such match"}, 409: {"description": "already voided"}},
)
def post_void(
    match_id: UUID,
    principal: Admin,
    res: ResourcesDep,
    idempotency_key: OptionalIdempotencyKey = None,
) -> JobAccepted:
    return written(commands.void(res, caller(principal, idempotency_key), match_id))


@router.get("/{match_id}", summary="A match")
def get_match_by_id(match_id: UUID, res: ResourcesDep) -> Match:
    return get_match(res.db, match_id)
