"""/v1/matches"""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict

from ladder import commands
from ladder.api.deps import Admin, ResourcesDep, Writer
from ladder.api.routers.params import IdempotencyKey, OptionalIdempotencyKey, caller, written
from ladder.matches import MatchReport, get_match
from ladder.models import Match

router = APIRouter(prefix="/v1/matches", tags=["matches"])


class MatchCreate(MatchReport):
    model_config = ConfigDict(extra="forbid")


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
    return written(commands.report_match(res, caller(principal, idempotency_key), body))


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
