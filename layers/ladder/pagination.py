"""Opaque keyset cursors: a page's last sort key, base64url-encoded JSON.

A cursor names its kind so that one list's cursor is rejected by another,
and any malformed cursor is a 400, never a 5xx.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from ladder.errors import BadRequest

MAX_LIMIT = 200
DEFAULT_LIMIT = 50

K = TypeVar("K", bound=BaseModel)


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
