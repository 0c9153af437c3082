"""/v1/players"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, status
from pydantic import ConfigDict

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
from ladder.models import DEFAULT_LADDER, Match, Page, Player, RatingHistoryEntry
from ladder.players import NewPlayer, find_player_by_handle, get_player

router = APIRouter(prefix="/v1/players", tags=["players"])


class PlayerCreate(NewPlayer):
    model_config = ConfigDict(extra="forbid")


@router.post("", status_code=status.HTTP_201_CREATED, summary="Register a player")
def post_player(
    body: PlayerCreate,
    principal: Writer,
    res: ResourcesDep,
    idempotency_key: OptionalIdempotencyKey = None,
) -> Player:
    return written(commands.create_player(res, caller(principal, idempotency_key), body))


@router.get("", summary="Find a player by handle")
def get_player_by_handle(
    handle: Annotated[str, Query(max_length=32, pattern=r"^[A-Za-z0-9_]{3,32}$")],
    res: ResourcesDep,
) -> Player:
    return find_player_by_handle(res.db, handle)


@router.get("/{player_id}", summary="A player")
def get_player_by_id(player_id: UUID, res: ResourcesDep) -> Player:
    return get_player(res.db, player_id)


@router.get("/{player_id}/matches", summary="A player's matches in the default ladder")
def get_player_matches(
    player_id: UUID, res: ResourcesDep, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None
) -> Page[Match]:
    return list_player_matches(res.db, player_id, ladder=DEFAULT_LADDER, limit=limit, cursor=cursor)


@router.get("/{player_id}/ratings", summary="A player's rating history in the default ladder")
def get_player_ratings(
    player_id: UUID, res: ResourcesDep, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None
) -> Page[RatingHistoryEntry]:
    return list_rating_history(res.db, player_id, ladder=DEFAULT_LADDER, limit=limit, cursor=cursor)
