"""Every write accepts an Idempotency-Key: a retry after a lost response (an ambiguous
commit) answers as the first request did, instead of a 409 or a second write."""

from __future__ import annotations

import contextlib
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from ladder.idempotency import prune_idempotency_records
from tests.helpers import create_player, record_match

pytestmark = pytest.mark.usefixtures("clean_state")


def key() -> dict[str, str]:
    return {"Idempotency-Key": str(uuid.uuid4())}


def test_a_retried_player_registration_returns_the_first_answer(client, writer, db):
    headers = {**writer, **key()}
    body = {"handle": "retried", "display_name": "R"}
    first = client.post("/v1/players", json=body, headers=headers)
    again = client.post("/v1/players", json=body, headers=headers)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert db.execute("SELECT count(*) AS n FROM players").fetchone()["n"] == 1
    # Without a key, the same body is a second attempt: the handle is taken.
    assert client.post("/v1/players", json=body, headers=writer).status_code == 409


def test_a_retried_void_returns_the_same_job(client, writer, admin, db):
    a, b = (create_player(client, writer, f"v_{n}")["id"] for n in "ab")
    match = record_match(client, writer, a, b, 1.0).json()
    headers = {**admin, **key()}
    first = client.post(f"/v1/matches/{match['id']}/void", headers=headers)
    again = client.post(f"/v1/matches/{match['id']}/void", headers=headers)
    assert (first.status_code, again.status_code) == (202, 202)
    assert again.json() == first.json()
    assert client.post(f"/v1/matches/{match['id']}/void", headers=admin).status_code == 409


@pytest.mark.parametrize("path", ["/v1/admin/recalculations", "/v1/admin/backups"])
def test_retried_admin_writes_return_the_same_job(client, admin, db, path):
    headers = {**admin, **key()}
    first = client.post(path, headers=headers)
    db.execute("UPDATE jobs SET status = 'running'")  # a new request would not merge now
    again = client.post(path, headers=headers)
    assert again.json() == first.json()
    assert db.execute("SELECT count(*) AS n FROM jobs").fetchone()["n"] == 1


def test_a_key_reused_for_another_request_is_a_422(client, writer):
    headers = {**writer, **key()}
    first = client.post(
        "/v1/players", json={"handle": "k_one", "display_name": "x"}, headers=headers
    )
    assert first.status_code == 201
    other = client.post(
        "/v1/players", json={"handle": "k_two", "display_name": "x"}, headers=headers
    )
    assert other.status_code == 422


def test_old_idempotency_records_are_pruned(client, writer, db, resources):
    client.post(
        "/v1/players", json={"handle": "aged", "display_name": "x"}, headers={**writer, **key()}
    )
    client.post(
        "/v1/players", json={"handle": "fresh", "display_name": "x"}, headers={**writer, **key()}
    )
    db.execute(
        "UPDATE idempotency_records SET created_at = now() - interval '2 days'"
        " WHERE response->>'handle' = 'aged'"
    )
    assert prune_idempotency_records(resources.db, 24) == 1
    left = db.execute("SELECT response->>'handle' AS h FROM idempotency_records").fetchall()
    assert [r["h"] for r in left] == ["fresh"]


@contextlib.contextmanager
def instances(settings, n: int):
    """n API processes, as n Lambda instances are: each its own pool of connections."""
    from fastapi.testclient import TestClient

    from ladder.api.app import create_app
    from ladder.resources import Resources

    with contextlib.ExitStack() as stack:
        clients = []
        for _ in range(n):
            res = Resources.from_settings(settings)
            stack.callback(res.close)
            clients.append(stack.enter_context(TestClient(create_app(res))))
        yield clients


def held_back(db, lock: str, clients, request) -> list:
    """Each client sends `request(client)` while `lock` is held, so all of them have
    looked for the key's record (none yet) and wait; then the lock goes and they race."""
    pool = ThreadPoolExecutor(len(clients))
    try:
        with db.transaction():
            db.execute(lock)
            futures = [pool.submit(request, c) for c in clients]
            deadline = time.monotonic() + 10
            while (waiting := _waiting_for_locks(db)) < len(clients):
                assert time.monotonic() < deadline, f"only {waiting} requests reached the lock"
                time.sleep(0.01)
        return [f.result(timeout=30) for f in futures]
    finally:
        pool.shutdown(wait=True)


def _waiting_for_locks(db) -> int:
    db.execute("SELECT pg_stat_clear_snapshot()")  # activity is read once per transaction
    return db.execute(
        "SELECT count(*) AS n FROM pg_stat_activity"
        " WHERE wait_event_type = 'Lock' AND datname = current_database()"
    ).fetchone()["n"]


def test_concurrent_retries_with_one_key_all_get_the_first_answer(
    client, writer, admin, settings, db
):
    """A client retries while its first request still waits (behind a recalculation's
    lock, say): the retry fails on what the first did (the handle it took, the match it
    voided) and must answer as it did, not 409."""
    headers = {**writer, **key()}
    body = {"handle": "race", "display_name": "R"}
    a, b = (create_player(client, writer, f"race_{n}")["id"] for n in "ab")
    match = record_match(client, writer, a, b, 1.0).json()
    with instances(settings, 3) as clients:
        answers = held_back(
            db,
            "LOCK TABLE players IN EXCLUSIVE MODE",
            clients,
            lambda c: c.post("/v1/players", json=body, headers=headers),
        )
        assert [r.status_code for r in answers] == [201] * 3, [r.text for r in answers]
        assert len({r.json()["id"] for r in answers}) == 1

        headers = {**admin, **key()}
        void = f"/v1/matches/{match['id']}/void"
        answers = held_back(
            db,
            "LOCK TABLE matches IN EXCLUSIVE MODE",
            clients,
            lambda c: c.post(void, headers=headers),
        )
        assert [r.status_code for r in answers] == [202] * 3, [r.text for r in answers]
        assert len({r.json()["job_id"] for r in answers}) == 1


def test_a_recalculation_without_a_body_and_with_an_empty_one_are_the_same_request(client, admin):
    headers = {**admin, **key()}
    first = client.post("/v1/admin/recalculations", headers=headers)
    again = client.post("/v1/admin/recalculations", json={}, headers=headers)
    assert again.status_code == 202, again.text
    assert again.json() == first.json()


def test_stored_fingerprints_stay_as_first_released(client, writer, admin, db):
    """A retry that spans a deploy must find its stored answer: each write's fingerprint
    is its operation and the body as it was first fingerprinted (pinned here, literally)."""
    from ladder.idempotency import fingerprint

    def stored_hash(headers) -> str:
        return db.execute(
            "SELECT request_hash FROM idempotency_records WHERE key = %s",
            (headers["Idempotency-Key"],),
        ).fetchone()["request_hash"]

    checks = []
    headers = {**writer, **key()}
    player = client.post(
        "/v1/players", json={"handle": "fp_a", "display_name": "F"}, headers=headers
    )
    checks.append(
        (headers, "POST /v1/players", {"handle": "fp_a", "display_name": "F", "email": None})
    )
    b = create_player(client, writer, "fp_b")["id"]
    headers = {**writer, **key()}
    body = {"player_a": player.json()["id"], "player_b": b, "score_a": 1}
    match = client.post(
        "/v1/matches", json={**body, "played_at": "2026-01-01T11:00:00+01:00"}, headers=headers
    ).json()
    checks.append(
        (headers, "POST /v1/matches", {**body, "score_a": 1.0, "played_at": "2026-01-01T10:00:00Z"})
    )
    headers = {**admin, **key()}
    client.post(f"/v1/matches/{match['id']}/void", headers=headers)
    checks.append((headers, "POST /v1/matches/{id}/void", {"match_id": match["id"]}))
    for sent, released in (
        (None, {}),
        (
            {"from_played_at": "2026-01-01T11:00:00.5+01:00"},
            {"from_played_at": "2026-01-01T10:00:00.500000Z"},
        ),
    ):
        headers = {**admin, **key()}
        client.post("/v1/admin/recalculations", json=sent, headers=headers)
        checks.append((headers, "POST /v1/admin/recalculations", released))
    headers = {**admin, **key()}
    client.post("/v1/admin/backups", headers=headers)
    checks.append((headers, "POST /v1/admin/backups", {}))
    for headers, operation, released in checks:
        assert stored_hash(headers) == fingerprint(operation, released), operation
