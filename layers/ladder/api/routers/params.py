"""Query parameters every list shares."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

from ladder.pagination import DEFAULT_LIMIT, MAX_LIMIT

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description=f"Page size, ≤ {MAX_LIMIT}.")]
Cursor = Annotated[
    str | None, Query(max_length=512, description="`next_cursor` of the previous page.")
]
__all__ = ["DEFAULT_LIMIT", "Cursor", "Limit"]
