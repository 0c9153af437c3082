import threading
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from tests.helpers import create_player, record_match


@pytest.fixture
def pair(client, writer):
    return create_player(client, writer, "anna")["id"], create_player(client, writer, "boris")["id"]


def test_recording_a_match_rates_both_players_and_returns_before_and_after(client, writer, pair):
    a, b = pair
    response = record_match(client, writer, a, b, 1.0)
    assert response.status_code == 201
    match = response.json()
    assert match["seq"] == 1
    assert match["ratings"] == {
        "a": {"before": 1500.0, "after": 1520.0},
        "b": {"before": 1500.0, "after": 1480.0},
    }
    assert client.get(f"/v1/matches/{match['id']}").json() == match
    assert client.get(f"/v1/players/{a}").json()["rating"] == 1520.0
    assert client.get(f"/v1/players/{b}").json()["games"] == 1


def test_the_same_idempotency_key_returns_the_same_body_and_changes_nothing(
    client, writer, pair, db
):
    a, b = pair
    first = record_match(client, writer, a, b, 0.5, key="report-1")
    again = record_match(client, writer, a, b, 0.5, key="report-1")
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert db.execute("SELECT count(*) AS n FROM matches").fetchone()["n"] == 1
    assert client.get(f"/v1/players/{a}").json()["games"] == 1


def test_the_same_key_with_a_different_body_is_a_422(client, writer, pair):
    a, b = pair
    assert record_match(client, writer, a, b, 1.0, key="k").status_code == 201
    reused = record_match(client, writer, a, b, 0.0, key="k")
    assert reused.status_code == 422
    assert "Idempotency-Key" in reused.json()["detail"]


def test_concurrent_requests_with_one_key_record_one_match(client, writer, pair, db):
    a, b = pair
    barrier = threading.Barrier(6)
    results = []

    def report():
        barrier.wait()
        results.append(record_match(client, writer, a, b, 1.0, key="same-key"))

    threads = [threading.Thread(target=report) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 6  # every thread answered
    assert sorted(r.status_code for r in results) == [201] * 6
    assert len({r.json()["id"] for r in results}) == 1
    assert db.execute("SELECT count(*) AS n FROM matches").fetchone()["n"] == 1


def test_keys_are_scoped_to_the_caller(client, writer, pair):
    from tests.conftest import bearer

    a, b = pair
    first = record_match(client, writer, a, b, 1.0, key="shared")
    other = record_match(
        client, bearer("ladder:write", subject="other-server"), a, b, 1.0, "shared"
    )
    assert other.status_code == 201
    assert other.json()["id"] != first.json()["id"]


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"score_a": 0.7}, "score_a"),
        ({"score_a": "1"}, "score_a"),
        ({"score_a": True}, "score_a"),
        ({"player_a": "not-a-uuid"}, "player_a"),
        ({"played_at": "2024-01-01T00:00:00"}, "played_at"),
        ({"played_at": "1900-01-01T00:00:00Z"}, "played_at"),
        ({"played_at": "yesterday"}, "played_at"),
        ({"extra": 1}, "extra"),
    ],
)
def test_invalid_reports_are_422_and_change_nothing(client, writer, pair, db, change, fragment):
    a, b = pair
    body = {"player_a": a, "player_b": b, "score_a": 1.0, **change}
    response = client.post(
        "/v1/matches", json=body, headers={**writer, "Idempotency-Key": str(uuid.uuid4())}
    )
    assert response.status_code == 422, response.text
    assert fragment in response.json()["detail"]
    assert db.execute("SELECT count(*) AS n FROM matches").fetchone()["n"] == 0


def test_a_player_cannot_play_themself_nor_an_unknown_player(client, writer, pair):
    a, _ = pair
    assert record_match(client, writer, a, a, 1.0).status_code == 422
    unknown = record_match(client, writer, a, str(uuid.uuid4()), 1.0)
    assert unknown.status_code == 422
    assert "player_b" in unknown.json()["detail"]


def test_a_match_in_the_future_is_rejected(client, writer, pair):
    a, b = pair
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    response = record_match(client, writer, a, b, 1.0, played_at=future)
    assert response.status_code == 422
    assert "future" in response.json()["detail"]


def test_the_idempotency_key_header_is_required_and_checked(client, writer, pair):
    a, b = pair
    body = {"player_a": a, "player_b": b, "score_a": 1.0}
    assert client.post("/v1/matches", json=body, headers=writer).status_code == 422
    too_long = {**writer, "Idempotency-Key": "k" * 256}
    assert client.post("/v1/matches", json=body, headers=too_long).status_code == 422


def test_player_matches_and_ratings_page_newest_first(client, writer, pair):
    a, b = pair
    start = datetime(2025, 1, 1, tzinfo=UTC)
    ids = [
        record_match(
            client, writer, a, b, 1.0, played_at=(start + timedelta(minutes=i)).isoformat()
        ).json()["id"]
        for i in range(5)
    ]
    seen, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = client.get(f"/v1/players/{b}/matches", params=params).json()
        seen += [m["id"] for m in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ids[::-1]

    history = client.get(f"/v1/players/{a}/ratings", params={"limit": 3}).json()
    assert [h["match_id"] for h in history["items"]] == ids[::-1][:3]
    newest = history["items"][0]
    assert newest["after"] == client.get(f"/v1/players/{a}").json()["rating"]
    rest = client.get(
        f"/v1/players/{a}/ratings", params={"limit": 3, "cursor": history["next_cursor"]}
    ).json()
    assert [h["match_id"] for h in rest["items"]] == ids[::-1][3:]
    assert rest["next_cursor"] is None
    assert rest["items"][-1]["before"] == 1500.0


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 0},
        {"limit": 201},
        {"limit": "ten"},
        {"limit": 10**30},
        {"cursor": "garbage"},
        {"cursor": "eyJrIjoibGVhZGVyYm9hcmQifQ"},
        {"cursor": "€€€"},
    ],
)
def test_bad_limits_and_cursors_are_4xx(client, writer, pair, params):
    a, _ = pair
    for path in (f"/v1/players/{a}/matches", f"/v1/players/{a}/ratings", "/v1/leaderboard"):
        response = client.get(path, params=params)
        assert 400 <= response.status_code < 500, (path, response.text)
        assert response.headers["content-type"] == "application/problem+json"


def test_lists_of_an_unknown_player_are_404(client):
    assert client.get(f"/v1/players/{uuid.uuid4()}/matches").status_code == 404
    assert client.get(f"/v1/players/{uuid.uuid4()}/ratings").status_code == 404


def test_a_recorded_match_writes_its_events_with_the_response_as_data(client, writer, pair, db):
    a, b = pair
    match = record_match(client, writer, a, b, 0.0).json()
    events = db.execute(
        "SELECT type, topics, payload FROM event_outbox WHERE type <> 'player.created' ORDER BY id"
    ).fetchall()
    assert events[0] == {
        "type": "match.recorded",
        "topics": ["matches", "ladder:default", f"player:{a}", f"player:{b}"],
        "payload": match,
    }
    assert events[1]["type"] == "leaderboard.changed"
    assert {p["player_id"]: p["rating"] for p in events[1]["payload"]["players"]} == {
        a: match["ratings"]["a"]["after"],
        b: match["ratings"]["b"]["after"],
    }
