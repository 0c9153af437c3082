"""functions.api.handler driven with real API Gateway REST proxy events."""

import importlib
import json

import psycopg
import pytest

from ladder.settings import get_settings
from tests.conftest import bearer
from tests.lambda_events import LambdaContext, rest_event


@pytest.fixture
def lambda_api(monkeypatch, settings, clean_state):
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    monkeypatch.setenv("REDIS_URL", settings.redis_url)
    monkeypatch.setenv("LADDER_REDIS_PREFIX", settings.redis_prefix)
    monkeypatch.setenv("LADDER_DB_POOL_SIZE", "1")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "LadderTest")
    get_settings.cache_clear()
    import functions.api

    module = importlib.reload(functions.api)
    yield module
    module.app.state.resources.close()
    get_settings.cache_clear()


def invoke(module, event):
    response = module.handler(event, LambdaContext())
    body = response["body"]
    return response["statusCode"], response["headers"], json.loads(body) if body else None


def test_importing_the_handler_opens_no_connection(lambda_api):
    assert lambda_api.app.state.resources.db._pool is None
    status, _, body = invoke(lambda_api, rest_event("GET", "/health"))
    assert (status, body) == (200, {"status": "ok"})
    assert lambda_api.app.state.resources.db._pool is None


def test_a_player_and_a_match_through_rest_events(lambda_api):
    writer = bearer("ladder:write")
    ids = []
    for handle in ("lambda_a", "lambda_b"):
        status, _, body = invoke(
            lambda_api,
            rest_event(
                "POST", "/v1/players", body={"handle": handle, "display_name": "L"}, headers=writer
            ),
        )
        assert status == 201
        ids.append(body["id"])
    event = rest_event(
        "POST",
        "/v1/matches",
        body={"player_a": ids[0], "player_b": ids[1], "score_a": 1},
        headers={**writer, "Idempotency-Key": "lambda-1"},
        base64_body=True,
    )
    status, _, match = invoke(lambda_api, event)
    assert status == 201
    assert match["ratings"]["a"]["after"] == 1520.0
    status, _, replay = invoke(lambda_api, event)
    assert (status, replay) == (201, match)

    status, _, page = invoke(lambda_api, rest_event("GET", "/v1/leaderboard", query={"limit": "1"}))
    assert status == 200
    assert page["items"][0]["player_id"] == ids[0]
    assert page["next_cursor"] is not None


def test_errors_are_problem_json_through_the_handler(lambda_api):
    status, headers, body = invoke(
        lambda_api, rest_event("POST", "/v1/players", body={"handle": "x", "display_name": "y"})
    )
    assert status == 401
    assert headers["content-type"] == "application/problem+json"
    assert body["title"] == "Unauthorized"
    status, _, body = invoke(lambda_api, rest_event("GET", "/v1/players/nope"))
    assert status == 422
    status, _, body = invoke(lambda_api, rest_event("GET", "/v1/nowhere"))
    assert (status, body["status"]) == (404, 404)


def test_the_handler_reconnects_after_its_connection_is_dropped(lambda_api, database_url):
    writer = bearer("ladder:write")
    create = rest_event(
        "POST", "/v1/players", body={"handle": "before_drop", "display_name": "B"}, headers=writer
    )
    assert invoke(lambda_api, create)[0] == 201
    # What a frozen environment finds on thaw: the server closed its connection.
    with psycopg.connect(database_url, autocommit=True) as admin:
        killed = admin.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchone()[0]
    assert killed >= 1
    status, _, body = invoke(
        lambda_api, rest_event("GET", "/v1/players", query={"handle": "before_drop"})
    )
    assert status == 200
    assert body["handle"] == "before_drop"


def test_after_a_snapstart_restore_connections_are_reopened(lambda_api):
    status, _, _ = invoke(lambda_api, rest_event("GET", "/v1/leaderboard"))
    assert status == 200
    assert lambda_api.app.state.resources.db._pool is not None
    lambda_api.drop_connections()  # what Lambda calls after restoring the snapshot
    assert lambda_api.app.state.resources.db._pool is None
    status, _, _ = invoke(lambda_api, rest_event("GET", "/v1/leaderboard"))
    assert status == 200
