import pytest

from ladder.leaderboard import version_key
from ladder.resources import Resources
from ladder_dev.local_services import redis_server
from tests.helpers import create_player, record_match

VERSION_KEY = version_key("default")


@pytest.fixture
def played(client, writer):
    """Four players with games, one without; ratings known from the spec."""
    ids = {h: create_player(client, writer, h)["id"] for h in ("ann", "ben", "cat", "dan", "eve")}
    record_match(client, writer, ids["ann"], ids["ben"], 1.0)  # ann 1520, ben 1480
    record_match(client, writer, ids["cat"], ids["dan"], 0.5)  # cat 1500, dan 1500
    return ids


def test_order_is_rating_then_games_then_handle_and_only_players_with_games(client, played):
    page = client.get("/v1/leaderboard").json()
    assert [(e["rank"], e["handle"], e["rating"]) for e in page["items"]] == [
        (1, "ann", 1520.0),
        (2, "cat", 1500.0),
        (3, "dan", 1500.0),
        (4, "ben", 1480.0),
    ]
    assert page["next_cursor"] is None


def test_pages_continue_the_ranks(client, played):
    first = client.get("/v1/leaderboard", params={"limit": 3}).json()
    second = client.get(
        "/v1/leaderboard", params={"limit": 3, "cursor": first["next_cursor"]}
    ).json()
    assert [e["rank"] for e in first["items"] + second["items"]] == [1, 2, 3, 4]
    assert second["items"][0]["handle"] == "ben"
    assert second["next_cursor"] is None


def test_pages_are_served_from_cache_until_a_rating_changes(client, writer, played, db):
    before = client.get("/v1/leaderboard").json()
    # Change a rating behind the API's back: the cached page must still be served...
    db.execute("UPDATE standings SET rating = 9999 WHERE handle = 'ben'")
    assert client.get("/v1/leaderboard").json() == before
    # ...until a recorded match invalidates every cached page.
    record_match(client, writer, played["eve"], played["dan"], 1.0)
    after = client.get("/v1/leaderboard").json()
    assert after["items"][0]["handle"] == "ben"
    assert "eve" in [e["handle"] for e in after["items"]]


def test_invalidation_bumps_the_version_key(client, writer, played, resources):
    version = resources.cache.get_int(VERSION_KEY)
    record_match(client, writer, played["ann"], played["eve"], 0.0)
    assert resources.cache.get_int(VERSION_KEY) == version + 1


def test_with_redis_stopped_reads_and_writes_still_work_from_postgres(settings, clean_state):
    from fastapi.testclient import TestClient

    from ladder.api.app import create_app
    from tests.conftest import bearer

    with redis_server() as (url, process):
        res = Resources.from_settings(settings.model_copy(update={"redis_url": url}))
        writer = bearer("ladder:write")
        with TestClient(create_app(res)) as client:
            a = create_player(client, writer, "solo")["id"]
            b = create_player(client, writer, "duo")["id"]
            record_match(client, writer, a, b, 1.0)
            assert client.get("/v1/leaderboard").json()["items"][0]["handle"] == "solo"
            assert client.get("/ready").status_code == 200

            if process is None:
                pytest.skip("no redis-server binary to stop")
            process.kill()
            process.wait()

            assert client.get("/v1/leaderboard").json()["items"][0]["handle"] == "solo"
            assert record_match(client, writer, a, b, 0.0).status_code == 201
            board = client.get("/v1/leaderboard").json()["items"]
            assert {e["handle"]: e["games"] for e in board} == {"solo": 2, "duo": 2}
            ready = client.get("/ready")
            assert ready.status_code == 503
            assert ready.json()["checks"]["redis"].startswith("failed")
            assert ready.json()["checks"]["postgres"] == "ok"
        res.close()


def test_ready_reports_postgres_down(settings, clean_state):
    from fastapi.testclient import TestClient

    from ladder.api.app import create_app
    from ladder_dev.local_services import free_port

    dead = f"postgresql://postgres@127.0.0.1:{free_port()}/postgres"
    res = Resources.from_settings(
        settings.model_copy(update={"database_url": dead, "db_connect_timeout": 1.0})
    )
    with TestClient(create_app(res)) as client:
        ready = client.get("/ready")
        assert ready.status_code == 503
        assert "postgres" in ready.json()["detail"]
        down = client.get("/v1/leaderboard")  # nothing cached: a clear 503, not a 500
        assert down.status_code == 503
        assert down.headers["retry-after"] == "5"
        assert down.json()["detail"] == "the database is not answering; retry later"
        assert client.get("/health").status_code == 200
    res.close()


def test_ties_break_on_games_then_handle_across_page_breaks(client, writer):
    """Draws between players at 1500 leave them at exactly 1500: the whole board ties on
    rating, so games (desc) then handle (asc) decide, across every page break."""
    ids = {h: create_player(client, writer, h)["id"] for h in ("tie_e", "tie_a", "tie_d", "tie_b")}
    ids |= {h: create_player(client, writer, h)["id"] for h in ("tie_c", "tie_f")}
    for a, b in [("tie_e", "tie_a"), ("tie_e", "tie_b"), ("tie_e", "tie_c"), ("tie_a", "tie_b")]:
        assert record_match(client, writer, ids[a], ids[b], 0.5).status_code == 201
    assert record_match(client, writer, ids["tie_d"], ids["tie_f"], 0.5).status_code == 201
    expected = ["tie_e", "tie_a", "tie_b", "tie_c", "tie_d", "tie_f"]  # 3, 2, 2, 1, 1, 1 games
    for limit in (1, 2, 4):
        pages, cursor = [], None
        while True:
            params = {"limit": limit, **({"cursor": cursor} if cursor else {})}
            page = client.get("/v1/leaderboard", params=params).json()
            pages += page["items"]
            if not (cursor := page["next_cursor"]):
                break
        assert [e["handle"] for e in pages] == expected, limit
        assert [e["rank"] for e in pages] == list(range(1, 7))
        assert {e["rating"] for e in pages} == {1500.0}


def test_the_leaderboard_after_a_void_shows_the_replayed_ratings(
    clean_state, api, jobs, queues, writer, admin
):
    from tests.integration.conftest import drain

    a, b = (create_player(api, writer, h)["id"] for h in ("void_a", "void_b"))
    won = record_match(api, writer, a, b, 1.0).json()
    before = api.get("/v1/leaderboard").json()["items"]  # cached now
    assert [e["rating"] for e in before] == [1520.0, 1480.0]
    assert api.post(f"/v1/matches/{won['id']}/void", headers=admin).status_code == 202
    drain(jobs, queues["LADDER_JOBS_QUEUE_URL"])
    after = api.get("/v1/leaderboard").json()["items"]
    assert after == []  # no games left: nobody is ranked
