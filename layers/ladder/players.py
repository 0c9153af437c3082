"""Players: registration and lookup."""

from __future__ import annotations

import uuid
from uuid import UUID

import psycopg
from pydantic import BaseModel

from ladder.db import Database
from ladder.errors import Conflict, NotFound
from ladder.events import write_event
from ladder.models import Player
from ladder.ratings.elo import RatingRules

PLAYER_COLUMNS = "id, handle, display_name, rating, games, created_at"
HANDLE_PATTERN = r"^[a-z0-9_]{3,32}$"  # as stored (lower case); the schema checks it too


class NewPlayer(BaseModel):
    """A registration, as validated at the edge (`handle` lower-case)."""

    handle: str
    display_name: str
    email: str | None = None


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
