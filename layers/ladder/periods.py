"""ISO-8601 durations as season lengths, with calendar months.

Written here rather than taken from a library: the Lambda layer carries no
date library, pydantic reads `P1M` as 30 days (a monthly season must start on
the same day of every month), and a season needs only integer designators and
"add k periods to the anchor", which is a few lines.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

# PnYnMnWnDTnHnMnS with integer designators (at most 6 digits each).
ISO_DURATION = re.compile(
    r"P(?:([0-9]{1,6})Y)?(?:([0-9]{1,6})M)?(?:([0-9]{1,6})W)?(?:([0-9]{1,6})D)?"
    r"(?:T(?:([0-9]{1,6})H)?(?:([0-9]{1,6})M)?(?:([0-9]{1,6})S)?)?"
)
MINIMUM = timedelta(minutes=1)
MAXIMUM_MONTHS = 1200  # a century: longer is a typo


@dataclass(frozen=True)
class Period:
    """A calendar part (months) and a fixed part."""

    months: int
    fixed: timedelta

    @classmethod
    def parse(cls, text: str) -> Period:
        match = ISO_DURATION.fullmatch(text) if isinstance(text, str) else None
        if match is None or text in ("P", "PT") or text.endswith("T"):
            raise ValueError("must be an ISO-8601 duration with integers, e.g. P7D, P1M, PT5M")
        years, months, weeks, days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
        period = cls(
            months=12 * years + months,
            fixed=timedelta(weeks=weeks, days=days, hours=hours, minutes=minutes, seconds=seconds),
        )
        if period.months == 0 and period.fixed < MINIMUM:
            raise ValueError("must be at least one minute")
        if period.months > MAXIMUM_MONTHS or period.fixed > timedelta(days=36525):
            raise ValueError("must be at most a century")
        return period

    def times(self, anchor: datetime, count: int) -> datetime:
        """`anchor` plus `count` periods: months first (the day clamped to the month's
        last, from the anchor each time, so a season starting on the 31st starts on
        every month's last day without drifting), then the fixed part.
        OverflowError beyond the year 9999."""
        month_index = anchor.year * 12 + anchor.month - 1 + self.months * count
        year, month = divmod(month_index, 12)
        if not 1 <= year <= 9999:
            raise OverflowError("beyond the representable years")
        day = min(anchor.day, calendar.monthrange(year, month + 1)[1])
        return anchor.replace(year=year, month=month + 1, day=day) + self.fixed * count

    def index_at(self, anchor: datetime, moment: datetime) -> int:
        """The k with anchor + k periods <= moment < anchor + (k+1) periods (negative
        before the anchor)."""
        if self.months == 0:
            return (moment - anchor) // self.fixed
        average = timedelta(days=30.436875 * self.months) + self.fixed
        k = (moment - anchor) // average
        while self._at_or_before(anchor, k + 1, moment):
            k += 1
        while not self._at_or_before(anchor, k, moment):
            k -= 1
        return k

    def _at_or_before(self, anchor: datetime, count: int, moment: datetime) -> bool:
        try:
            return self.times(anchor, count) <= moment
        except OverflowError:
            return count < 0
