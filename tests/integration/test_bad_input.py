"""Every bad input a client can send is a 4xx problem+json whose type the API serves;
nothing a client controls reaches a 5xx, and parsers of client input hold for any value."""

from __future__ import annotations

import base64
import json
from datetime import UTC

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ladder.errors import BadRequest, LadderError
from ladder.leaderboard import LeaderboardCursor
from ladder.matches import MatchCursor
from ladder.models import RulesChange
from ladder.pagination import decode_cursor, encode_cursor
from ladder.problems import ERROR_TYPES, PROBLEM_TYPES
from ladder_stream.sse import parse_last_event_id
from tests.conftest import bearer
from tests.helpers import create_player, record_match
from tests.lambda_events import LambdaContext, rest_event

pytestmark = pytest.mark.usefixtures("clean_state")


def cursor(kind: str, **fields) -> str:
    raw = json.dumps({"k": kind, **fields}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def assert_problem(response, status: int) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    "fields",
    [
        {"rating": 1500.0, "games": 1, "handle": "a\x00b"},
        {"rating": 1500.0, "games": 1, "handle": "\ud800abc"},
        {"rating": 1500.0, "games": 1, "handle": "UPPER"},
        {"rating": 1e400, "games": 1, "handle": "abc"},
        {"rating": 1500.0, "games": -1, "handle": "abc"},
    ],
)
def test_a_damaged_leaderboard_cursor_is_a_400(client, fields):
    assert_problem(
        client.get("/v1/leaderboard", params={"cursor": cursor("leaderboard", **fields)}), 400
    )


def test_a_damaged_history_cursor_is_a_400(client, writer):
    player = create_player(client, writer, "cursor_owner")["id"]
    for fields in (
        {"played_at": "2026-01-01T00:00:00-20:00", "seq": 1},  # beyond Postgres' offsets
        {"played_at": "2026-01-01T00:00:00", "seq": 1},
        {"played_at": "\x00", "seq": 1},
        {"played_at": 1700000000, "seq": 1},
    ):
        page = client.get(
            f"/v1/players/{player}/matches", params={"cursor": cursor("matches", **fields)}
        )
        assert page.status_code in (200, 400), page.text  # a far offset is valid, in UTC
        assert page.status_code < 500


def test_a_forged_cursor_cannot_relabel_ranks(client, writer):
    ids = [create_player(client, writer, f"rank_{i}")["id"] for i in range(3)]
    record_match(client, writer, ids[0], ids[1], 1.0)
    record_match(client, writer, ids[0], ids[2], 1.0)
    top = client.get("/v1/leaderboard", params={"limit": 1}).json()
    assert top["items"][0]["rank"] == 1
    # A cursor placed before the leader (as if a player ranked above it existed), with a
    # rank claim as old cursors carried: the leader is still rank 1.
    forged = cursor("leaderboard", rating=9999.0, games=1, handle="zzz", rank=1)
    page = client.get("/v1/leaderboard", params={"cursor": forged}).json()
    assert page["items"][0]["player_id"] == ids[0]
    assert page["items"][0]["rank"] == 1
    second = client.get("/v1/leaderboard", params={"cursor": top["next_cursor"]}).json()
    assert [i["rank"] for i in second["items"]] == [2, 3]


@pytest.mark.parametrize("score", [-0.0, 0.25, 2, -1, "1", True, None])
def test_scores_other_than_1_half_0_are_422(client, writer, score):
    a, b = (create_player(client, writer, f"score_{n}")["id"] for n in "ab")
    assert_problem(record_match(client, writer, a, b, score), 422)


def test_a_body_over_64_kib_is_a_413_before_auth(client):
    big = b'{"handle": "' + b"x" * (10 * 1024 * 1024) + b'"}'
    response = client.post("/v1/players", content=big, headers={"Content-Type": "application/json"})
    assert_problem(response, 413)  # no token was sent: the size is refused first

    def chunks():  # no Content-Length: counted while read
        for _ in range(100):
            yield b"x" * 1024

    response = client.post("/v1/players", content=chunks(), headers=bearer("ladder:write"))
    assert_problem(response, 413)
    small = client.post(
        "/v1/players",
        json={"handle": "fits", "display_name": "x" * 64},
        headers=bearer("ladder:write"),
    )
    assert small.status_code == 201


def test_a_refused_cors_preflight_is_a_problem(client):
    """Browsers may only read (GET); a preflight for a write is refused as problem+json,
    and an allowed one still passes."""
    origin = {"Origin": "https://studio.example"}
    refused = client.options(
        "/v1/players", headers={**origin, "Access-Control-Request-Method": "POST"}
    )
    assert_problem(refused, 400)
    assert "method" in refused.json()["detail"]
    allowed = client.options(
        "/v1/leaderboard", headers={**origin, "Access-Control-Request-Method": "GET"}
    )
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "*"


def test_every_problem_type_is_served_by_the_api(client):
    for slug, kind in PROBLEM_TYPES.items():
        served = client.get(f"/problems/{slug}")
        assert served.status_code == 200, slug
        assert served.json() == {
            "type": f"http://testserver/problems/{slug}",
            "title": kind.title,
            "status": kind.status,
            "description": kind.description,
        }
    assert_problem(client.get("/problems/nonsense"), 404)
    errors = [LadderError]
    while errors:  # every error class callers see, however deep, is mapped to a type
        error = errors.pop()
        assert error in ERROR_TYPES or error is LadderError, error
        errors.extend(error.__subclasses__())
    assert set(ERROR_TYPES.values()) <= set(PROBLEM_TYPES)


def test_behind_api_gateway_problem_types_carry_the_stage(lambda_api):
    event = rest_event("GET", "/v1/nowhere", stage="live")
    response = lambda_api.handler(event, LambdaContext())
    problem = json.loads(response["body"])
    assert (
        problem["type"]
        == "https://abc123.execute-api.us-east-1.amazonaws.com/live/problems/not-found"
    )


@pytest.fixture
def lambda_api(monkeypatch, settings):
    import importlib

    from ladder.settings import get_settings

    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    monkeypatch.setenv("REDIS_URL", settings.redis_url)
    monkeypatch.setenv("LADDER_REDIS_PREFIX", settings.redis_prefix)
    get_settings.cache_clear()
    import functions.api

    module = importlib.reload(functions.api)
    yield module
    module.app.state.resources.close()
    get_settings.cache_clear()


# Property tests: every parser of client input, any value.

ANY_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=8,
)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=200), ANY_JSON.map(lambda v: cursor("leaderboard", v=v))))
def test_any_cursor_decodes_or_is_a_bad_request(raw):
    for kind, model in (("leaderboard", LeaderboardCursor), ("matches", MatchCursor)):
        try:
            decoded = decode_cursor(kind, raw, model)
        except BadRequest:
            continue
        assert decode_cursor(kind, encode_cursor(kind, decoded), model) == decoded


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.dictionaries(st.sampled_from(["rating", "games", "handle", "rank", "k"]), ANY_JSON))
def test_any_leaderboard_cursor_fields_page_or_400(client, fields):
    response = client.get("/v1/leaderboard", params={"cursor": cursor("leaderboard", **fields)})
    assert response.status_code in (200, 400, 422), response.text  # 422: over 512 characters


@settings(max_examples=500, deadline=None)
@given(st.one_of(st.none(), st.text(max_size=30)), st.one_of(st.none(), st.text(max_size=30)))
def test_any_last_event_id_is_an_id_or_a_bad_request(header, query):
    try:
        parsed = parse_last_event_id(header, query)
    except BadRequest:
        return
    raw = header if header not in (None, "") else query
    assert parsed is None or str(parsed) == raw.lstrip("0") or (parsed == 0 and set(raw) == {"0"})


# The names a rules change may use: any other key must be refused.
RULE_NAMES = list(RulesChange.model_fields)


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.one_of(st.sampled_from(RULE_NAMES), st.text(max_size=12)), ANY_JSON))
def test_any_rules_change_is_valid_rules_or_a_422(change):
    from pydantic import ValidationError

    from ladder.ladders import merged_rules
    from ladder.ratings.elo import RatingRules

    try:
        rules = merged_rules(RatingRules(), RulesChange.model_validate(change))
    except ValidationError:
        return
    rating_rules = rules.to_rating_rules()  # what the rating code gets: finite, positive K
    assert all(k > 0 for k in (rules.k_provisional, rules.k_established, rules.k_master))
    assert rating_rules.max_rating_gap is None or rating_rules.max_rating_gap > 0
    assert set(change) <= set(RULE_NAMES)


# Season schedules near the valid ones, so that most get past the first field.
SCHEDULES = st.fixed_dictionaries(
    {
        "every": ANY_JSON
        | st.from_regex(r"P([0-9]{1,7}[YMWD]){0,2}(T([0-9]{1,7}[HMS]){0,2})?", fullmatch=True),
        "anchor": ANY_JSON | st.datetimes(timezones=st.just(UTC)).map(lambda t: t.isoformat()),
    },
    optional={
        "grace_seconds": ANY_JSON | st.integers(),
        "reset": ANY_JSON | st.sampled_from(["none", "soft"]),
        "factor": ANY_JSON | st.floats(),
    },
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.fixed_dictionaries(
        {},
        optional={
            "slug": ANY_JSON | st.from_regex(r"[a-z][a-z0-9-]{1,31}", fullmatch=True),
            "name": ANY_JSON,
            "rules": ANY_JSON,
            "board": ANY_JSON,
            "seasons": ANY_JSON | SCHEDULES,
        },
    )
)
def test_any_ladder_body_creates_or_is_a_4xx(client, body):
    # Sent as Python writes JSON: NaN and Infinity tokens included, as a careless client's.
    raw = json.dumps(body).encode()
    headers = {**bearer("ladder:admin"), "Content-Type": "application/json"}
    created = client.post("/v1/ladders", content=raw, headers=headers)
    assert created.status_code in (201, 400, 409, 422), created.text
    if created.status_code != 201:
        assert created.headers["content-type"] == "application/problem+json"
    changed = client.patch("/v1/ladders/default", content=raw, headers=headers)
    assert changed.status_code in (200, 400, 422), changed.text


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_any_topic_is_a_topic_or_a_bad_request(raw):
    from ladder_stream.sse import TOPIC, parse_topics

    try:
        topics = parse_topics(raw)
    except BadRequest:
        return
    assert topics
    assert all(TOPIC.match(topic) for topic in topics)
