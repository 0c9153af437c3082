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
from ladder.ratings.elo import RatingRules

PLAYER_COLUMNS = "id, handle, display_name, rating, games, created_at"
HANDLE_PATTERN = r"^[a-z0-9_]{3,32}$"  # as stored (lower case); the schema checks it too


# Text without control characters, C0 or C1 (Postgres rejects NUL outright).
TEXT_PATTERN = r"^[^\x00-\x1f\x7f-\x9f]+$"
EMAIL_PATTERN = r"^[^@\s\x00-\x1f\x7f-\x9f]+@[^@\s\x00-\x1f\x7f-\x9f]+$"


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


def insert_player(conn: psycopg.Connection, new: NewPlayer, rules: RatingRules) -> Player:
    """Register a player at the initial rating in the caller's transaction; `Conflict` if
    the handle is taken."""
    try:
        with conn.transaction():  # a savepoint: a taken handle leaves the caller's intact
            row = conn.execute(
                f"INSERT INTO players (id, handle, display_name, email, rating)"
                f" VALUES (%s, %s, %s, %s, %s) RETURNING {PLAYER_COLUMNS}",
                (uuid.uuid4(), new.handle.lower(), new.display_name, new.email, rules.initial),
            ).fetchone()
    except psycopg.errors.UniqueViolation:
        raise Conflict(f"handle {new.handle.lower()!r} is taken") from None
    player = Player.model_validate(row)
    write_event(conn, "player.created", player)
    return player


def get_player(db: Database, player_id: UUID) -> Player:
    row = db.run(
        lambda conn: conn.execute(
            f"SELECT {PLAYER_COLUMNS} FROM players WHERE id = %s", (player_id,)
        ).fetchone()
    )
    if row is None:
        raise NotFound(f"no player with id {player_id}")
    return Player.model_validate(row)


def find_player_by_handle(db: Database, handle: str) -> Player:
    row = db.run(
        lambda conn: conn.execute(
            f"SELECT {PLAYER_COLUMNS} FROM players WHERE lower(handle) = lower(%s)", (handle,)
        ).fetchone()
    )
    if row is None:
        raise NotFound(f"no player with handle {handle.lower()!r}")
    return Player.model_validate(row)


def ensure_player_exists(conn: psycopg.Connection, player_id: UUID) -> None:
    if conn.execute("SELECT 1 FROM players WHERE id = %s", (player_id,)).fetchone() is None:
        raise NotFound(f"no player with id {player_id}")
