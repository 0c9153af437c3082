"""/v1/matches"""

from __future__ import annotations

import math
from datetime import timedelta
from uuid import UUID

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ladder.api.deps import require_scope, resources
from ladder.api.routers.params import (
    IdempotencyKey,
    OptionalIdempotencyKey,
    accept_job,
    written,
)
from ladder.auth import SCOPE_ADMIN, SCOPE_WRITE, Principal
from ladder.jobs.schedule import dispatch
from ladder.leaderboard import invalidate_leaderboard
from ladder.matches import MatchReport, get_match, record_match, void_match
from ladder.models import Match
from ladder.ratings import VALID_SCORES
from ladder.resources import Resources
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
        200: {"model": Match, "description": "a replay of an earlier request with this key"},
        422: {"description": "invalid body, unknown player, or a reused key"},
    },
)
def post_match(
    body: MatchCreate,
    idempotency_key: IdempotencyKey,
    response: Response,
    principal: Principal = Depends(require_scope(SCOPE_WRITE)),
    res: Resources = Depends(resources),
) -> Match:
    result, jobs = record_match(
        res.db,
        MatchReport(**body.model_dump()),
        principal=principal.subject,
        idempotency_key=idempotency_key,
        rules=res.rules,
        max_future_skew=timedelta(seconds=res.settings.max_future_skew),
    )
    if not result.replayed:
        invalidate_leaderboard(res.cache)
        dispatch(res.db, res.settings, jobs)
    return written(result)


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
    idempotency_key: OptionalIdempotencyKey = None,
    principal: Principal = Depends(require_scope(SCOPE_ADMIN)),
    res: Resources = Depends(resources),
) -> JobAccepted:
    return accept_job(
        res,
        principal,
        idempotency_key,
        "POST /v1/matches/{id}/void",
        {"match_id": str(match_id)},
        lambda conn: (202, {"job_id": str(void_match(conn, match_id))}),
    )


@router.get("/{match_id}", summary="A match")
def get_match_by_id(match_id: UUID, res: Resources = Depends(resources)) -> Match:
    return get_match(res.db, match_id)
