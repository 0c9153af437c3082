"""How a matches file's rows are stored and hashed: one form per instant, however the
file writes it (the file's identity, and so an import's idempotence, rests on it)."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from ladder.errors import ImportRejected
from ladder.imports import read_matches

LATEST = datetime(9999, 12, 30, tzinfo=UTC)
instants = st.datetimes(
    min_value=datetime(1970, 1, 2), max_value=datetime(9999, 12, 1), timezones=st.just(UTC)
)
offsets = st.integers(min_value=-23 * 60 - 59, max_value=23 * 60 + 59).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)


def spellings(moment: datetime, offset: timezone) -> list[str]:
    local = moment.astimezone(offset)
    text = local.isoformat(timespec="microseconds" if moment.microsecond else "seconds")
    utc = moment.isoformat(timespec="microseconds" if moment.microsecond else "seconds")
    return [text, utc.replace("+00:00", "Z"), utc.replace("+00:00", "z").replace("T", "t")]


@given(instants, offsets)
def test_every_spelling_of_an_instant_is_stored_and_hashed_alike(moment, offset):
    files = [
        f"played_at,player_a,player_b,score_a\n{when},aaa,bbb,1\n"
        for when in spellings(moment, offset)
    ]
    rows = [read_matches(io.BytesIO(text.encode()), latest=LATEST) for text in files]
    assert {r.played_at[0] for r in rows} == {moment.isoformat()}
    assert len({r.sha256 for r in rows}) == 1
    assert {r.earliest for r in rows} == {moment}


def test_hour_24_is_stored_as_the_next_midnight_or_refused_never_as_written():
    """RFC 3339 allows 24:00:00; Python 3.14 reads it as the next day's midnight, older
    versions refuse it. Either way the file's identity is that of the instant."""
    text = "played_at,player_a,player_b,score_a\n2024-01-01T24:00:00Z,aaa,bbb,1\n"
    try:
        rows = read_matches(io.BytesIO(text.encode()), latest=LATEST)
    except ImportRejected:
        return  # before Python 3.14
    assert rows.played_at == ["2024-01-02T00:00:00+00:00"]
