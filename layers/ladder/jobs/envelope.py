"""What a job is on the queue: its type, id and payload (`{"type", "id", "payload"}`)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from pydantic import BaseModel

RECALCULATE = "elo.recalculate"
INVALIDATE_CACHE = "cache.invalidate"
BACKUP = "backup.create"
SEASON_CLOSE = "season.close"


class Envelope(BaseModel):
    """What a queue message carries."""

    type: str
    id: UUID
    payload: dict[str, Any] = {}
