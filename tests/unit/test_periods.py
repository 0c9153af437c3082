"""Season lengths: ISO-8601 durations with calendar months (client input)."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ladder.models import SeasonSchedule
from ladder.periods import Period
from ladder.season_calendar import SeasonState

MOMENTS = st.datetimes(
    min_value=datetime(1970, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
)
PERIODS = st.from_regex(
    r"P([0-9]{1,2}Y)?([0-9]{1,3}M)?([0-9]{1,3}W)?([0-9]{1,3}D)?(T([0-9]{1,3}H)?([0-9]{1,4}M)?([0-9]{1,5}S)?)?",
    fullmatch=True,
)


@settings(max_examples=500, deadline=None)
@given(st.one_of(st.text(max_size=30), PERIODS))
def test_any_text_is_a_period_of_at_least_a_minute_or_a_value_error(text):
    try:
        period = Period.parse(text)
    except ValueError:
        return
    assert period.months > 0 or period.fixed >= timedelta(minutes=1)
    assert text.startswith("P")


@settings(max_examples=500, deadline=None)
@given(PERIODS, MOMENTS, MOMENTS)
def test_every_moment_falls_in_exactly_one_season(text, anchor, moment):
    try:
        period = Period.parse(text)
    except ValueError:
        return
    k = period.index_at(anchor, moment)
    assert period.times(anchor, k) <= moment
    with contextlib.suppress(OverflowError):  # the next season would start after 9999
        assert moment < period.times(anchor, k + 1)


def test_months_keep_the_anchor_day_without_drifting():
    anchor = datetime(2026, 1, 31, 12, tzinfo=UTC)
    starts = [Period.parse("P1M").times(anchor, k).date().isoformat() for k in range(4)]
    assert starts == ["2026-01-31", "2026-02-28", "2026-03-31", "2026-04-30"]


@pytest.mark.parametrize("text", ["P", "PT", "P1", "PT30S", "P1DT", "-P1D", "P1.5D", "p1d", "P0D"])
def test_malformed_or_too_short_periods_are_refused(text):
    with pytest.raises(ValueError, match="must"):
        Period.parse(text)


def test_season_numbers_starts_and_closes():
    schedule = SeasonSchedule(every="P7D", anchor="2026-01-05T00:00:00Z", grace_seconds=3600)
    state = SeasonState(schedule=schedule, frozen=None, reset_through=None)
    assert state.number_at(datetime(2026, 1, 4, tzinfo=UTC)) == 0
    assert state.number_at(datetime(2026, 1, 5, tzinfo=UTC)) == 1
    assert state.number_at(datetime(2026, 1, 12, tzinfo=UTC)) == 2
    assert state.end(1) == state.start(2) == datetime(2026, 1, 12, tzinfo=UTC)
    assert not state.closed(1, datetime(2026, 1, 12, 0, 59, tzinfo=UTC))
    assert state.closed(1, datetime(2026, 1, 12, 1, tzinfo=UTC))
    late = datetime(2026, 1, 12, 1, tzinfo=UTC)
    assert state.closed_season(datetime(2026, 1, 6, tzinfo=UTC), late) == 1
    assert state.closed_season(datetime(2026, 1, 13, tzinfo=UTC), late) is None
    assert state.first_open(late) == 2  # season 0 closed at the anchor + grace, 1 now
    assert SeasonState(schedule, frozen=1, reset_through=None).closed(
        1, datetime.min.replace(tzinfo=UTC)
    )
