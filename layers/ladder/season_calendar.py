"""A seasoned ladder's calendar: which season an instant belongs to, when each one
starts, ends and closes, and where rating order may still change. Pure: the
state it reasons about is read by `ladder.ladders`.

Season n (from 1) covers [anchor + (n-1) × every, anchor + n × every); the time
before the anchor is season 0, which closes like any other (so a ladder that
adopts seasons bounds its recalculations too). A season is closed once it is
frozen (its final standings stored) or once its grace has passed, whichever
comes first: a missed close run changes when standings are frozen, never what
is accepted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from ladder.models import CurrentSeason, SeasonSchedule


def copy_text(moment: datetime) -> str:
    """An instant as the recalculation's COPY text writes `played_at` (fixed-width
    UTC, so text order is time order)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# Where a season would end beyond the representable years: it never ends.
NEVER = datetime.max.replace(tzinfo=UTC)


def _or_never(moment: Callable[[], datetime]) -> datetime:
    try:
        return moment()
    except OverflowError:
        return NEVER


@dataclass(frozen=True)
class SeasonState:
    schedule: SeasonSchedule
    frozen: int | None  # the last closed season (seasons close in order); None: none yet
    reset_through: datetime | None  # the latest boundary whose soft reset history holds

    def start(self, number: int) -> datetime | None:
        """Season `number`'s first instant (None for season 0: it has no start)."""
        if number <= 0:
            return None
        return _or_never(lambda: self.schedule.period.times(self.schedule.anchor, number - 1))

    def end(self, number: int) -> datetime:
        """The instant after season `number` (the next one's start)."""
        return _or_never(lambda: self.schedule.period.times(self.schedule.anchor, number))

    def closes_at(self, number: int) -> datetime:
        return _or_never(lambda: self.end(number) + self.grace)

    @property
    def grace(self) -> timedelta:
        return timedelta(seconds=self.schedule.grace_seconds)

    def number_at(self, moment: datetime) -> int:
        if moment < self.schedule.anchor:
            return 0
        return self.schedule.period.index_at(self.schedule.anchor, moment) + 1

    def closed(self, number: int, now: datetime) -> bool:
        frozen = self.frozen is not None and number <= self.frozen
        return frozen or self.closes_at(number) <= now

    def closed_season(self, moment: datetime, now: datetime) -> int | None:
        """The number of the season `moment` falls in if it has closed at `now`, else
        None: what a write into that season is refused for."""
        number = self.number_at(moment)
        return number if self.closed(number, now) else None

    def first_open(self, now: datetime) -> int:
        """The earliest season not closed at `now`."""
        number = self.next_to_close
        while self.closed(number, now):
            number += 1
        return number

    @property
    def next_to_close(self) -> int:
        return 0 if self.frozen is None else self.frozen + 1

    @property
    def floor(self) -> datetime | None:
        """Where rating order may still change: the first instant after the last frozen
        season (None: nothing frozen, all history may)."""
        return None if self.frozen is None else self.end(self.frozen)

    @property
    def soft_factor(self) -> float | None:
        return self.schedule.factor if self.schedule.reset == "soft" else None

    def first_unwritten_reset(self) -> datetime | None:
        """The earliest boundary whose soft reset rating history does not hold yet (None
        without a soft reset). Resets are written in order by recalculations that start
        at or before the first missing one, so every later one is missing too."""
        if self.soft_factor is None:
            return None
        if self.reset_through is None:
            return self.schedule.anchor
        return self.start(self.number_at(self.reset_through) + 1)

    def resets_between(self, after: datetime, inclusive: bool, until: datetime) -> list[datetime]:
        """The soft-reset boundaries (every season's start, the anchor included) after
        `after` (or at it, if `inclusive`) up to `until`, ascending."""
        if self.soft_factor is None:
            return []
        number = max(1, self.number_at(after))
        boundaries = []
        while (start := self.start(number)) <= until:
            if start > after or (inclusive and start == after):
                boundaries.append(start)
            number += 1
        return boundaries

    def current(self, now: datetime) -> CurrentSeason | None:
        number = self.number_at(now)
        if number == 0:
            return None
        return CurrentSeason(number=number, starts_at=self.start(number), ends_at=self.end(number))
