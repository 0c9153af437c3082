"""Times a game server sends, however odd its clock or offset, end in ratings equal to an
independent replay in `(played_at, seq)` order."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from ladder.times import RFC3339, UtcTime
from tests.helpers import assert_ratings_equal_replay, create_player, record_match
from tests.integration.conftest import drain

pytestmark = pytest.mark.usefixtures("clean_state")

START = datetime(2026, 1, 1, tzinfo=UTC)
# Offsets across everything an RFC 3339 string can carry; PostgreSQL's own literals
# stop at ±15:59.
OFFSETS = ["-23:59", "-20:00", "-16:00", "-15:59", "-05:30", "Z", "+05:45", "+15:59", "+23:59"]


def at(moment: datetime, offset: str) -> str:
    """`moment` written with `offset`."""
    if offset == "Z":
        return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    sign = 1 if offset[0] == "+" else -1
    hours, minutes = map(int, offset[1:].split(":"))
    zone = timezone(sign * timedelta(hours=hours, minutes=minutes))
    return moment.astimezone(zone).isoformat()


def test_late_matches_at_every_offset_are_replayed_in_order(api, jobs, queues, db, writer):
    ids = [create_player(api, writer, f"tz_{i}")["id"] for i in range(4)]
    for i in range(12):
        played = at(START + timedelta(hours=2 * i + 10), OFFSETS[i % len(OFFSETS)])
        response = record_match(api, writer, ids[i % 4], ids[(i + 1) % 4], 1.0, played_at=played)
        assert response.status_code == 201, response.text
    for i, offset in enumerate(OFFSETS):  # each one late: before the matches above
        late = record_match(
            api, writer, ids[i % 4], ids[(i + 2) % 4], 0.5, played_at=at(START, offset)
        )
        assert late.status_code == 201, late.text
        assert late.json()["played_at"] == "2026-01-01T00:00:00Z"  # returned in UTC
    drain(jobs, queues["LADDER_JOBS_QUEUE_URL"])
    statuses = db.execute("SELECT status, error FROM jobs").fetchall()
    assert statuses
    assert all(j["status"] == "succeeded" for j in statuses), statuses
    assert_ratings_equal_replay(db)


def test_an_admin_recalculation_from_any_offset_runs(api, jobs, queues, db, writer, admin):
    ids = [create_player(api, writer, f"adm_{i}")["id"] for i in range(3)]
    for i in range(6):
        record_match(api, writer, ids[i % 3], ids[(i + 1) % 3], 1.0)
    for offset in ("-20:00", "+23:59"):
        since = at(datetime.now(UTC) - timedelta(days=1), offset)
        accepted = api.post(
            "/v1/admin/recalculations", json={"from_played_at": since}, headers=admin
        )
        assert accepted.status_code == 202, accepted.text
        drain(jobs, queues["LADDER_JOBS_QUEUE_URL"])
        job = api.get(f"/v1/admin/jobs/{accepted.json()['job_id']}", headers=admin).json()
        assert job["status"] == "succeeded", job
    assert_ratings_equal_replay(db)


def test_a_fast_clock_cannot_hide_a_match_played_before_it(api, jobs, queues, db, writer):
    """Q–R in the allowed future, then R–T and Q–T with no time: those two were played
    before Q–R, so each is late and a recalculation puts them in order."""
    q, r, t = (create_player(api, writer, f"clock_{n}")["id"] for n in "qrt")
    future = (datetime.now(UTC) + timedelta(seconds=250)).isoformat()
    assert record_match(api, writer, q, r, 1.0, played_at=future).status_code == 201
    assert record_match(api, writer, r, t, 1.0).status_code == 201
    assert record_match(api, writer, q, t, 0.0).status_code == 201
    scheduled = db.execute("SELECT count(*) AS n FROM jobs").fetchone()["n"]
    assert scheduled >= 1
    drain(jobs, queues["LADDER_JOBS_QUEUE_URL"])
    assert_ratings_equal_replay(db)


@pytest.mark.parametrize(
    "played_at",
    [
        1700000000,
        1.7e9,
        True,
        None,
        "2026-01-01T00:00:00",
        "yesterday",
        "",
        "\x00",
        "9999-12-31T23:59:59-14:00",
        "0001-01-01T00:00:00+14:00",
        "1969-12-31T23:59:59Z",
        "1700000000",  # digits: pydantic would read Unix seconds...
        "1700000000.5",
        "1700000000000",  # ...or milliseconds
        "2026-01-01T00:00Z",  # no seconds
        "2026-01-01T00:00:00+0100",  # offset without its colon
        "２０２６-01-01T00:00:00Z",  # fullwidth digits
    ],
)
def test_times_that_are_not_rfc_3339_with_an_offset_are_422(api, writer, played_at):
    a, b = (create_player(api, writer, f"bad_{n}")["id"] for n in "ab")
    response = record_match(api, writer, a, b, 1.0, played_at=played_at)
    if played_at is None:  # null: omitted, rated now
        assert response.status_code == 201
        return
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"


class Body(BaseModel):
    at: UtcTime


@settings(max_examples=300, deadline=None)
@given(
    st.datetimes(
        min_value=datetime(1970, 1, 2), max_value=datetime(9999, 12, 29), timezones=st.none()
    ),
    st.integers(min_value=-(24 * 60 - 1), max_value=24 * 60 - 1),
)
def test_any_offset_pydantic_accepts_becomes_the_same_instant_in_utc(moment, minutes):
    zone = timezone(timedelta(minutes=minutes))
    text = moment.replace(tzinfo=zone).isoformat()
    parsed = Body.model_validate_json(f'{{"at": "{text}"}}').at
    assert parsed.utcoffset() == timedelta(0)
    assert parsed == moment.replace(tzinfo=zone)


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.text(max_size=40),
        st.from_regex(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9:.]{4,12}(Z|[+-][0-9:]{2,5})?"),
        st.integers(),
        st.floats(),
        st.booleans(),
    )
)
def test_any_other_value_is_a_validation_error_never_a_crash(raw):
    """And whatever is accepted was RFC 3339 as sent: nothing is read as something else."""
    with contextlib.suppress(ValidationError):
        Body.model_validate({"at": raw})
        assert isinstance(raw, str)
        assert RFC3339.fullmatch(raw)
