"""/v1/ladders: ladders, and each ladder's board and players' history in it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Path, status
from pydantic import ConfigDict

from ladder import commands
from ladder.api.deps import Admin, ResourcesDep
from ladder.api.routers.params import (
    DEFAULT_LIMIT,
    Around,
    Cursor,
    Limit,
    OptionalIdempotencyKey,
    caller,
    written,
)
from ladder.ladders import LadderChange, NewLadder, get_ladder, list_ladders
from ladder.leaderboard import leaderboard_page
from ladder.matches import list_player_matches, list_rating_history
from ladder.models import (
    Ladder,
    LeaderboardPage,
    Match,
    Page,
    PlayerStanding,
    RatingHistoryEntry,
    Season,
    SeasonStanding,
)
from ladder.rankings import player_standing
from ladder.seasons import list_seasons, season_standings
from ladder.text import SLUG_PATTERN

router = APIRouter(prefix="/v1/ladders", tags=["ladders"])

Slug = Annotated[str, Path(pattern=SLUG_PATTERN, description="The ladder's slug.")]


class LadderCreate(NewLadder):
    model_config = ConfigDict(extra="forbid")


class LadderChanged(Ladder):
    recalculation_job_id: UUID | None = None


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Create a ladder",
    responses={409: {"description": "the slug is taken"}},
)
def post_ladder(
    body: LadderCreate,
    principal: Admin,
    res: ResourcesDep,
    idempotency_key: OptionalIdempotencyKey = None,
) -> Ladder:
    return written(commands.create_ladder(res, caller(principal, idempotency_key), body))


@router.get("", summary="Every ladder, by slug")
def get_ladders(
    res: ResourcesDep, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None
) -> Page[Ladder]:
    return list_ladders(res.db, limit=limit, cursor=cursor)


@router.get("/{slug}", summary="A ladder")
def get_ladder_by_slug(slug: Slug, res: ResourcesDep) -> Ladder:
    return get_ladder(res.db, slug)


@router.patch(
    "/{slug}",
    summary="Change a ladder's name, rules, board or seasons; new rules or seasons"
    " recalculate its ratings",
    responses={409: {"description": "the seasons changed after one closed"}},
)
def patch_ladder(
    slug: Slug,
    body: LadderChange,
    principal: Admin,
    res: ResourcesDep,
    idempotency_key: OptionalIdempotencyKey = None,
) -> LadderChanged:
    return written(commands.change_ladder(res, caller(principal, idempotency_key), slug, body))


@router.get(
    "/{slug}/leaderboard",
    summary="The ladder's ranked players, best first; or the page around one of them",
    responses={404: {"description": "no such ladder, or `around` names a player off its board"}},
)
def get_ladder_leaderboard(
    slug: Slug,
    res: ResourcesDep,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
    around: Around = None,
) -> LeaderboardPage:
    return leaderboard_page(res, ladder=slug, limit=limit, cursor=cursor, around=around)


@router.get(
    "/{slug}/players/{player_id}",
    summary="A player's standing in the ladder: rating, rank, percentile, peak",
    responses={404: {"description": "no such ladder, or the player has no match in it"}},
)
def get_ladder_player(slug: Slug, player_id: UUID, res: ResourcesDep) -> PlayerStanding:
    return player_standing(res, slug, player_id)


@router.get("/{slug}/players/{player_id}/matches", summary="A player's matches in the ladder")
def get_ladder_player_matches(
    slug: Slug,
    player_id: UUID,
    res: ResourcesDep,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Page[Match]:
    return list_player_matches(res.db, player_id, ladder=slug, limit=limit, cursor=cursor)


@router.get("/{slug}/players/{player_id}/ratings", summary="A player's rating history in it")
def get_ladder_player_ratings(
    slug: Slug,
    player_id: UUID,
    res: ResourcesDep,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Page[RatingHistoryEntry]:
    return list_rating_history(res.db, player_id, ladder=slug, limit=limit, cursor=cursor)


@router.get("/{slug}/seasons", summary="The ladder's seasons, the current one first")
def get_ladder_seasons(
    slug: Slug, res: ResourcesDep, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None
) -> Page[Season]:
    return list_seasons(res.db, slug, datetime.now(UTC), limit=limit, cursor=cursor)


@router.get(
    "/{slug}/seasons/{number}/standings",
    summary="A closed season's final standings, best first",
    responses={404: {"description": "no such ladder, or the season has not closed"}},
)
def get_season_standings(
    slug: Slug,
    number: Annotated[int, Path(ge=0, le=2**31 - 1)],
    res: ResourcesDep,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Page[SeasonStanding]:
    return season_standings(res.db, slug, number, limit=limit, cursor=cursor)
