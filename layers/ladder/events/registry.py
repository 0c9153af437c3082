"""The one registry of stream event types: name, topics and payload schema.

Publishing a type that is not declared here raises, and the README's event
table is generated from this registry, so events cannot grow ad hoc.
Topics are `leaderboard`, `matches` and `player:<id>`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from uuid import UUID

from pydantic import BaseModel

from ladder.events.errors import UndeclaredEventType
from ladder.models import Match, Player


class LeaderboardPlayer(BaseModel):
    player_id: UUID
    handle: str
    rating: float
    games: int


class LeaderboardChanged(BaseModel):
    reason: str
    players: list[LeaderboardPlayer]


class MatchVoided(BaseModel):
    match_id: UUID
    player_a: UUID
    player_b: UUID
    job_id: UUID | None = None


class RecalculationCompleted(BaseModel):
    job_id: UUID
    matches: int
    players: int


@dataclass(frozen=True)
class EventType:
    name: str
    schema: type[BaseModel]
    topics: Callable[[BaseModel], list[str]]
    description: str


def _players_of(payload) -> list[str]:
    return [f"player:{payload.player_a}", f"player:{payload.player_b}"]


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
            lambda m: ["matches", *_players_of(m)],
            "A match was rated; the data is the match as `POST /v1/matches` returned it.",
        ),
        EventType(
            "leaderboard.changed",
            LeaderboardChanged,
            lambda c: ["leaderboard", *(f"player:{p.player_id}" for p in c.players)],
            "Ratings changed; the players' new standings.",
        ),
        EventType(
            "match.voided",
            MatchVoided,
            lambda v: ["matches", *_players_of(v)],
            "A match was voided; a recalculation follows.",
        ),
        EventType(
            "recalculation.completed",
            RecalculationCompleted,
            lambda _: ["leaderboard", "matches"],
            "A recalculation finished; clients reload their snapshots.",
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
