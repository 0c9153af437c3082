"""Players: registration and lookup."""

from __future__ import annotations

import re
import uuid
from uuid import UUID

import psycopg
from pydantic import BaseModel, ConfigDict, Field, field_validator

from ladder.db import Database
from ladder.errors import Conflict, NotFound
from ladder.events import write_event
from ladder.models import Player
from ladder.text import EMAIL_PATTERN, HANDLE_PATTERN, TEXT_PATTERN

# The default ladder's initial rating: a player's rating before their first match
# there. Its id is 1: migration 0008 creates it so, and it is never deleted.
DEFAULT_INITIAL = "(SELECT (rules->>'initial')::double precision FROM ladders WHERE id = 1)"

# A player with their standing in the ladder `default`.
PLAYER_SELECT = f"""
SELECT p.id, p.handle, p.display_name, p.created_at,
       coalesce(s.rating, {DEFAULT_INITIAL}) AS rating,
       coalesce(s.games, 0) AS games
FROM players p
LEFT JOIN standings s ON s.ladder_id = 1 AND s.player_id = p.id
"""


class NewPlayer(BaseModel):
    """A registration, valid whoever calls (the API's body is this); `handle` is stored
    lower-case."""

    model_config = ConfigDict(str_strip_whitespace=True)

    handle: str = Field(
        max_length=32,
        description="3–32 of a-z, 0-9, _; compared case-insensitively, stored lower-case.",
        examples=["alice_99"],
    )
    display_name: str = Field(min_length=1, max_length=64, pattern=TEXT_PATTERN)
    email: str | None = Field(None, max_length=254, pattern=EMAIL_PATTERN)

    @field_validator("handle")
    @classmethod
    def lower_handle(cls, value: str) -> str:
        value = value.lower()
        if not re.fullmatch(HANDLE_PATTERN, value):
            raise ValueError("handle must be 3–32 characters of a-z, 0-9 and _")
        return value


def insert_player(conn: psycopg.Connection, new: NewPlayer) -> Player:
    """Register a player in the caller's transaction; `Conflict` if the handle is taken.
    They have no standing in any ladder until their first match there."""
    try:
        with conn.transaction():  # a savepoint: a taken handle leaves the caller's intact
            row = conn.execute(
                "INSERT INTO players (id, handle, display_name, email) VALUES (%s, %s, %s, %s)"
                " RETURNING id, handle, display_name, created_at, 0 AS games,"
                f" {DEFAULT_INITIAL} AS rating",
                (uuid.uuid4(), new.handle.lower(), new.display_name, new.email),
            ).fetchone()
    except psycopg.errors.UniqueViolation:
        raise Conflict(f"handle {new.handle.lower()!r} is taken") from None
    player = Player.model_validate(row)
    write_event(conn, "player.created", player)
    return player


def get_player(db: Database, player_id: UUID) -> Player:
    row = db.run(
        lambda conn: conn.execute(PLAYER_SELECT + " WHERE p.id = %s", (player_id,)).fetchone()
    )
    if row is None:
        raise NotFound(f"no player with id {player_id}")
    return Player.model_validate(row)


def find_player_by_handle(db: Database, handle: str) -> Player:
    row = db.run(
        lambda conn: conn.execute(
            PLAYER_SELECT + " WHERE lower(p.handle) = lower(%s)", (handle,)
        ).fetchone()
    )
    if row is None:
        raise NotFound(f"no player with handle {handle.lower()!r}")
    return Player.model_validate(row)
