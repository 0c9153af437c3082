"""The one registry of stream event types: name, topics and payload schema.

Publishing a type that is not declared here raises, and the README's event
table is generated from this registry, so events cannot grow ad hoc.
Topics are `leaderboard` (the default ladder's board), `matches` (every
ladder's), `player:<id>` and `ladder:<slug>` (everything of one ladder); every
event of a ladder carries its `ladder`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from pydantic import BaseModel, Field

from ladder.events.errors import UndeclaredEventType
from ladder.models import DEFAULT_LADDER, Ladder, Match, Player


class LeaderboardPlayer(BaseModel):
    player_id: UUID
    handle: str
    rating: float
    games: int


class LeaderboardChanged(BaseModel):
    ladder: str = DEFAULT_LADDER
    reason: str
    players: list[LeaderboardPlayer]


class MatchVoided(BaseModel):
    ladder: str = DEFAULT_LADDER
    match_id: UUID
    player_a: UUID
    player_b: UUID
    job_id: UUID | None = None


class RecalculationCompleted(BaseModel):
    ladder: str = DEFAULT_LADDER
    job_id: UUID
    matches: int
    players: int


class ClosedSeason(BaseModel):
    ladder: str
    season: int
    starts_at: datetime | None = Field(description="Null for season 0, the time before the first.")
    ends_at: datetime
    players: int = Field(description="Standings frozen.")
    ranked: int = Field(description="Of them, on the board.")


@dataclass(frozen=True)
class EventType:
    name: str
    schema: type[BaseModel]
    topics: Callable[[BaseModel], list[str]]
    description: str


def _players_of(payload) -> list[str]:
    return [f"player:{payload.player_a}", f"player:{payload.player_b}"]


def _board_of(payload) -> list[str]:
    """A ladder's own topic, and `leaderboard` for the default ladder's changes."""
    ladder = [f"ladder:{payload.ladder}"]
    return ["leaderboard", *ladder] if payload.ladder == DEFAULT_LADDER else ladder


EVENT_TYPES: dict[str, EventType] = {
    e.name: e
    for e in (
        EventType(
            "player.created",
            Player,
            lambda p: [f"player:{p.id}"],
            "A player registered.",
        ),
        EventType(
            "match.recorded",
            Match,
            lambda m: ["matches", f"ladder:{m.ladder}", *_players_of(m)],
            "A match was rated; the data is the match as `POST /v1/matches` returned it.",
        ),
        EventType(
            "leaderboard.changed",
            LeaderboardChanged,
            lambda c: [*_board_of(c), *(f"player:{p.player_id}" for p in c.players)],
            "Ratings changed; the players' new standings.",
        ),
        EventType(
            "match.voided",
            MatchVoided,
            lambda v: ["matches", f"ladder:{v.ladder}", *_players_of(v)],
            "A match was voided; a recalculation follows.",
        ),
        EventType(
            "recalculation.completed",
            RecalculationCompleted,
            lambda r: [*_board_of(r), "matches"],
            "A recalculation of a ladder finished; clients reload their snapshots.",
        ),
        EventType(
            "ladder.created",
            Ladder,
            lambda ladder: [f"ladder:{ladder.slug}"],
            "A ladder was created.",
        ),
        EventType(
            "ladder.updated",
            Ladder,
            lambda ladder: [f"ladder:{ladder.slug}"],
            "A ladder's name, rules or board changed (new rules: a recalculation follows).",
        ),
        EventType(
            "season.closed",
            ClosedSeason,
            lambda closed: _board_of(closed),
            "A season closed: its final standings are frozen"
            " (`GET /v1/ladders/{slug}/seasons/{number}/standings`).",
        ),
    )
}


def event_type(name: str) -> EventType:
    """The declared type called `name`; raises `UndeclaredEventType` otherwise."""
    try:
        return EVENT_TYPES[name]
    except KeyError:
        raise UndeclaredEventType(
            f"event type {name!r} is not declared in ladder.events.registry"
        ) from None
