"""Times a client sends: RFC 3339 strings with an offset, normalized to UTC at the edge.

Pydantic is lenient: it reads numbers, and strings of digits, as Unix times
(seconds or, when large, milliseconds) and takes times without seconds, none of
which RFC 3339 allows; it accepts offsets up to ±23:59, and PostgreSQL's
timestamptz literal only up to ±15:59. A string must have RFC 3339's shape
before pydantic reads it, and a value that passes the edge in UTC is stored,
compared and bound the same way everywhere.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, BeforeValidator

# Matches before the Unix epoch are certainly typos; near year 9999 an offset
# would carry a time out of the representable range.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9999, 12, 30, tzinfo=UTC)
EXAMPLE = "e.g. 2026-01-01T12:00:00Z"


# RFC 3339 `date-time`: date, T, time with seconds (and any fraction), then Z or ±HH:MM
# (hours to 23, minutes to 59: Python would read +05:60 as +06:00).
RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?"
    r"([Zz]|[+-]([01][0-9]|2[0-3]):[0-5][0-9])"
)


def _rfc3339(value: object) -> object:
    if isinstance(value, datetime):
        return value  # built in code, not sent
    if not isinstance(value, str) or not RFC3339.fullmatch(value):
        raise ValueError(f"must be an RFC 3339 time with seconds and a UTC offset ({EXAMPLE})")
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
UtcTime = Annotated[AwareDatetime, BeforeValidator(_rfc3339), AfterValidator(_in_utc)]
