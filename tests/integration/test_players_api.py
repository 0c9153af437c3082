import uuid

import pytest

from tests.conftest import bearer
from tests.helpers import create_player


def test_a_registered_player_starts_at_1500_and_can_be_found_by_id_and_handle(client, writer):
    player = create_player(client, writer, "alice_1", email="alice@example.com")
    assert player["rating"] == 1500.0
    assert player["games"] == 0
    assert "email" not in player
    assert client.get(f"/v1/players/{player['id']}").json() == player
    assert client.get("/v1/players", params={"handle": "ALICE_1"}).json() == player


def test_handles_are_unique_case_insensitively(client, writer):
    create_player(client, writer, "bob")
    response = client.post(
        "/v1/players", json={"handle": "BoB", "display_name": "Other"}, headers=writer
    )
    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"] == "handle 'bob' is taken"


@pytest.mark.parametrize(
    "body",
    [
        {"handle": "ab", "display_name": "Too short"},
        {"handle": "a" * 33, "display_name": "Too long"},
        {"handle": "has space", "display_name": "x"},
        {"handle": "emoji_😀", "display_name": "x"},
        {"handle": "valid_one", "display_name": ""},
        {"handle": "valid_one", "display_name": "nul\x00byte"},
        {"handle": "valid_one", "display_name": "next\x85line"},  # a C1 control
        {"handle": "valid_one", "display_name": "x", "email": "a\x9b@b.c"},
        {"handle": "valid_one", "display_name": "x", "email": "not-an-email"},
        {"handle": "valid_one", "display_name": "x", "unknown": 1},
        {"handle": 12345, "display_name": "x"},
        {"display_name": "x"},
        [],
    ],
)
def test_invalid_players_are_rejected_with_a_problem(client, writer, body):
    response = client.post("/v1/players", json=body, headers=writer)
    assert response.status_code == 422
    problem = response.json()
    assert problem["status"] == 422
    assert problem["type"] == "http://testserver/problems/invalid-request"
    assert client.get(problem["type"]).status_code == 200  # the API serves its types
    assert problem["detail"]


def test_malformed_json_is_a_400(client, writer):
    response = client.post(
        "/v1/players",
        content=b'{"handle": "x",',
        headers={**writer, "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert response.json()["title"] == "Malformed JSON"


def test_unknown_and_malformed_ids_are_4xx(client):
    assert client.get(f"/v1/players/{uuid.uuid4()}").status_code == 404
    assert client.get("/v1/players/not-a-uuid").status_code == 422
    assert client.get("/v1/players", params={"handle": "nobody"}).status_code == 404
    assert client.get("/v1/players", params={"handle": "x\x00y"}).status_code == 422


def test_writes_need_a_valid_token_with_the_write_scope(client):
    body = {"handle": "carol", "display_name": "Carol"}
    missing = client.post("/v1/players", json=body)
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == "Bearer"
    garbage = client.post("/v1/players", json=body, headers={"Authorization": "Bearer nope"})
    assert garbage.status_code == 401
    wrong_scope = client.post("/v1/players", json=body, headers=bearer("ladder:admin"))
    assert wrong_scope.status_code == 403
    assert client.post("/v1/players", json=body, headers=bearer("ladder:write")).status_code == 201


def test_a_token_signed_with_another_secret_or_expired_is_refused(client):
    import time

    import jwt

    body = {"handle": "dave", "display_name": "Dave"}
    forged = jwt.encode(
        {"sub": "x", "scope": "ladder:write", "exp": int(time.time()) + 60},
        "another-secret-that-is-long-enough-for-hs256",
    )
    expired = jwt.encode(
        {"sub": "x", "scope": "ladder:write", "exp": int(time.time()) - 60},
        "ladder-local-development-secret-not-for-production",
    )
    for token in (forged, expired):
        response = client.post(
            "/v1/players", json=body, headers={"Authorization": f"Bearer {token}"}
        )
        assert response.status_code == 401
        assert response.json()["detail"].startswith("invalid token")


def test_creating_a_player_writes_a_player_created_event(client, writer, db):
    player = create_player(client, writer, "erin")
    events = db.execute("SELECT type, topics, payload FROM event_outbox").fetchall()
    assert events == [
        {"type": "player.created", "topics": [f"player:{player['id']}"], "payload": player}
    ]
