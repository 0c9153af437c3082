"""Opaque keyset cursors: a page's last sort key, base64url-encoded JSON.

A cursor names its kind so that one list's cursor is rejected by another,
and any malformed cursor is a 400, never a 5xx.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError

from ladder.errors import BadRequest
from ladder.models import Page

MAX_LIMIT = 200
DEFAULT_LIMIT = 50

K = TypeVar("K", bound=BaseModel)
T = TypeVar("T")


def encode_cursor(kind: str, key: BaseModel) -> str:
    raw = json.dumps({"k": kind, **key.model_dump(mode="json")}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _storable(value: Any) -> bool:
    """No string Postgres would refuse: NUL, or a lone surrogate that is not UTF-8."""
    if isinstance(value, str):
        return "\x00" not in value and value.isprintable() and _utf8(value)
    return all(_storable(v) for v in value.values()) if isinstance(value, dict) else True


def _utf8(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def decode_cursor(kind: str, cursor: str, model: type[K]) -> K:
    try:
        raw: Any = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(raw, dict) or raw.pop("k", None) != kind:
            raise ValueError("cursor belongs to another list")
        if not _storable(raw):
            raise ValueError("cursor holds characters no key has")
        return model.model_validate(raw)
    except (ValueError, binascii.Error, ValidationError, UnicodeDecodeError):
        raise BadRequest("cursor is not valid for this list; start again without it") from None


@dataclass(frozen=True)
class Keyset(Generic[K]):
    """One list's paging: its cursors' kind and the sort key they carry."""

    kind: str
    key: type[K]

    def after(self, cursor: str | None) -> K | None:
        """Where the page starts: after the cursor's key (None: at the top)."""
        return decode_cursor(self.kind, cursor, self.key) if cursor else None

    def page(
        self,
        page_type: type[Page[T]],
        rows: Sequence[Any],
        limit: int,
        item: Callable[[Any], T],
        key_of: Callable[[T], K],
    ) -> Page[T]:
        """A page from rows fetched in order, `limit + 1` of them at most: the extra row
        is not shown, it only says that a next page exists."""
        items = [item(row) for row in rows[:limit]]
        next_cursor = encode_cursor(self.kind, key_of(items[-1])) if len(rows) > limit else None
        return page_type(items=items, next_cursor=next_cursor)
