"""Parameters routes share: paging, and the Idempotency-Key of writes."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import Header, Query
from fastapi.responses import JSONResponse

from ladder.auth import Principal
from ladder.commands import Caller
from ladder.idempotency import IdempotentResult
from ladder.pagination import DEFAULT_LIMIT, MAX_LIMIT

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description=f"Page size, ≤ {MAX_LIMIT}.")]
Cursor = Annotated[
    str | None,
    Query(max_length=512, description="`next_cursor` (or `prev_cursor`) of another page."),
]
Around = Annotated[
    UUID | None, Query(description="A ranked player: the page is centred on them (no cursor).")
]

_KEY = {
    "alias": "Idempotency-Key",
    "min_length": 1,
    "max_length": 255,
    "pattern": r"^[\x21-\x7e]+$",
}
IdempotencyKey = Annotated[
    str,
    Header(
        **_KEY, description="Unique per logical report; a retry with the same key changes nothing."
    ),
]
OptionalIdempotencyKey = Annotated[
    str | None,
    Header(**_KEY, description="Optional: a retry with the same key answers as the first did."),
]


def caller(principal: Principal, idempotency_key: str | None) -> Caller:
    return Caller(principal.subject, idempotency_key)


def written(result: IdempotentResult) -> JSONResponse:
    """A write's answer; a replay of an earlier one says so."""
    headers = {"Idempotent-Replayed": "true"} if result.replayed else None
    return JSONResponse(result.body, status_code=result.status_code, headers=headers)


__all__ = [
    "DEFAULT_LIMIT",
    "Cursor",
    "IdempotencyKey",
    "Limit",
    "OptionalIdempotencyKey",
    "caller",
    "written",
]
