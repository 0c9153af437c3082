"""/v1/players"""

from __future__ import annotations

import re
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, status
from pydantic import BaseModel, ConfigDict, Field, field_validator

from ladder import commands
from ladder.api.deps import ResourcesDep, Writer
from ladder.api.routers.params import (
    DEFAULT_LIMIT,
    Cursor,
    Limit,
    OptionalIdempotencyKey,
    caller,
    written,
)
from ladder.matches import list_player_matches, list_rating_history
from ladder.models import Match, Page, Player, RatingHistoryEntry
from ladder.players import HANDLE_PATTERN, NewPlayer, find_player_by_handle, get_player

router = APIRouter(prefix="/v1/players", tags=["players"])

# Text without control characters, C0 or C1 (Postgres rejects NUL outright).
TEXT_PATTERN = r"^[^\x00-\x1f\x7f-\x9f]+$"


class PlayerCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    handle: str = Field(
        max_length=32,
        description="3–32 of a-z, 0-9, _; compared case-insensitively, stored lower-case.",
        examples=["alice_99"],
    )
    display_name: str = Field(min_length=1, max_length=64, pattern=TEXT_PATTERN)
    email: str | None = Field(
        None, max_length=254, pattern=r"^[^@\s\x00-\x1f\x7f-\x9f]+@[^@\s\x00-\x1f\x7f-\x9f]+$"
    )

    @field_validator("handle")
    @classmethod
    def lower_handle(cls, value: str) -> str:
        value = value.lower()
        if not re.fullmatch(HANDLE_PATTERN, value):
            raise ValueError("handle must be 3–32 characters of a-z, 0-9 and _")
        return value


@router.post("", status_code=status.HTTP_201_CREATED, summary="Register a player")
def post_player(
    body: PlayerCreate,
    principal: Writer,
    res: ResourcesDep,
    idempotency_key: OptionalIdempotencyKey = None,
) -> Player:
    new = NewPlayer(**body.model_dump())
    return written(commands.create_player(res, caller(principal, idempotency_key), new))


@router.get("", summary="Find a player by handle")
def get_player_by_handle(
    handle: Annotated[str, Query(max_length=32, pattern=r"^[A-Za-z0-9_]{3,32}$")],
    res: ResourcesDep,
) -> Player:
    return find_player_by_handle(res.db, handle)


@router.get("/{player_id}", summary="A player")
def get_player_by_id(player_id: UUID, res: ResourcesDep) -> Player:
    return get_player(res.db, player_id)


@router.get("/{player_id}/matches", summary="A player's matches, newest first")
def get_player_matches(
    player_id: UUID, res: ResourcesDep, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None
) -> Page[Match]:
    return list_player_matches(res.db, player_id, limit=limit, cursor=cursor)


@router.get("/{player_id}/ratings", summary="A player's rating history, newest first")
def get_player_ratings(
    player_id: UUID, res: ResourcesDep, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None
) -> Page[RatingHistoryEntry]:
    return list_rating_history(res.db, player_id, limit=limit, cursor=cursor)
