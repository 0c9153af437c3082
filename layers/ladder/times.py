"""Times a client sends: RFC 3339 strings with an offset, normalized to UTC at the edge.

Pydantic accepts offsets up to ±23:59 and numbers as Unix times; PostgreSQL's
timestamptz literal accepts offsets only up to ±15:59. A value that passes
the edge in UTC is stored, compared and bound the same way everywhere.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, BeforeValidator

# Matches before the Unix epoch are certainly typos; near year 9999 an offset
# would carry a time out of the representable range.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9999, 12, 30, tzinfo=UTC)
EXAMPLE = "e.g. 2026-01-01T12:00:00Z"


def _a_string(value: object) -> object:
    if not isinstance(value, str | datetime):
        raise ValueError(f"must be an RFC 3339 time string with a UTC offset ({EXAMPLE})")
    return value


def _in_utc(value: datetime) -> datetime:
    try:
        value = value.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"is out of range ({EXAMPLE})") from None
    if not EARLIEST <= value <= LATEST:
        raise ValueError("must be after 1970-01-01T00:00:00Z and before the year 9999 ends")
    return value


# A datetime field of a request body or cursor: a string with an offset, in UTC.
UtcTime = Annotated[AwareDatetime, BeforeValidator(_a_string), AfterValidator(_in_utc)]
