"""/v1/leaderboard: the default ladder's board."""

from __future__ import annotations

from fastapi import APIRouter

from ladder.api.deps import ResourcesDep
from ladder.api.routers.params import DEFAULT_LIMIT, Around, Cursor, Limit
from ladder.leaderboard import leaderboard_page
from ladder.models import DEFAULT_LADDER, LeaderboardPage

router = APIRouter(prefix="/v1/leaderboard", tags=["leaderboard"])


@router.get(
    "",
    summary="Players with at least one game, best first; or the page around one of them",
    responses={404: {"description": "`around` names a player off the board"}},
)
def get_leaderboard(
    res: ResourcesDep, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None, around: Around = None
) -> LeaderboardPage:
    return leaderboard_page(res, ladder=DEFAULT_LADDER, limit=limit, cursor=cursor, around=around)
