"""The rank index in Redis against Postgres: concurrent writers, a Redis flush mid-run,
a rebuild under writes, board-policy changes, inactivity as time passes, late updates,
drift. Every answer equals an independent sort of Postgres."""

from __future__ import annotations

import io
import random
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from ladder import commands
from ladder.api.app import create_app
from ladder.leaderboard import indexed_page
from ladder.rank_index import sync
from ladder.rank_index.entries import indexed_columns
from ladder.rank_index.store import RankIndex
from ladder.resources import Resources
from ladder_dev.local_services import delete_keys
from tests.helpers import create_player, record_match
from tests.integration.conftest import drain
from tests.integration.test_ladders import create_ladder
from tests.integration.test_rankings import independent_board, shown

pytestmark = pytest.mark.usefixtures("clean_state")

PLAYERS = 5000
WRITERS = 4
ROUNDS = 8
MATCHES_PER_WRITER = 6
FLUSH_ROUND = 4
PAGE = 200  # the largest a page may be


def seed_tied_ladder(res: Resources, slug: str, players: int) -> None:
    """`players` opening balances: 8 ratings × 4 game counts, so ~players/32 tie on both
    (and break by handle)."""
    lines = ["handle,rating,games"]
    lines += [f"rk_{i:05d},{1400 + 25 * (i % 8)},{1 + (i // 8) % 4}" for i in range(players)]
    commands.import_standings(res, io.BytesIO("\n".join(lines).encode()), slug)


def player_ids(db, slug: str) -> list[str]:
    return [
        row["player_id"]
        for row in db.execute(
            "SELECT s.player_id::text FROM standings s JOIN ladders l ON l.id = s.ladder_id"
            " WHERE l.slug = %s ORDER BY s.handle",
            (slug,),
        )
    ]


def walk(client, slug: str, limit: int) -> tuple[list[dict], list[dict]]:
    """The whole board walked down by next_cursor, then up by prev_cursor."""
    pages, cursor = [], None
    while True:
        query = f"limit={limit}" + (f"&cursor={cursor}" if cursor else "")
        response = client.get(f"/v1/ladders/{slug}/leaderboard?{query}")
        assert response.status_code == 200, response.text
        pages.append(response.json())
        cursor = pages[-1]["next_cursor"]
        if cursor is None:
            break
    down = [row for page in pages for row in shown(page)]
    up, cursor = shown(pages[-1]), pages[-1]["prev_cursor"]
    while cursor is not None:
        page = client.get(f"/v1/ladders/{slug}/leaderboard?limit={limit}&cursor={cursor}").json()
        up = shown(page) + up
        cursor = page["prev_cursor"]
    return down, up


def assert_answers_equal_postgres(client, db, slug: str, players: list[str]) -> None:
    """Pages both ways, pages around and standings of `players`: an independent sort."""
    board = independent_board(db, slug)
    down, up = walk(client, slug, PAGE)
    assert down == board
    assert up == board
    position = {row["player_id"]: index for index, row in enumerate(board)}
    for player in players:
        index = position[player]
        page = client.get(f"/v1/ladders/{slug}/leaderboard?limit=9&around={player}").json()
        first = max(0, min(index - 4, len(board) - 9))
        assert shown(page) == board[first : first + 9], player
        standing = client.get(f"/v1/ladders/{slug}/players/{player}").json()
        assert standing["rank"] == index + 1, player
        assert standing["percentile"] == 100 * (len(board) - index - 1) / len(board)
        assert (standing["rating"], standing["games"]) == (
            board[index]["rating"],
            board[index]["games"],
        )


def test_concurrent_writers_and_a_redis_flush_leave_every_answer_equal_to_postgres(
    api, jobs, queues, db, writer, admin, settings
):
    create_ladder(api, admin, "race")
    seed_tied_ladder(jobs.resources, "race", PLAYERS)
    drain(jobs, queues["LADDER_JOBS_QUEUE_URL"])  # the rebuild the balances asked for
    assert jobs.resources.index.live("race") is not None
    ids = player_ids(db, "race")
    board = independent_board(db, "race")
    assert len({(r["rating"], r["games"]) for r in board}) == 32  # ~156 players per tie

    # Each writer is its own API process with its own pool, and its own players (so it
    # can check its own writes are read back, whatever the others do).
    apps = [Resources.from_settings(jobs.resources.settings) for _ in range(WRITERS)]
    clients = [TestClient(create_app(res)) for res in apps]
    rng = random.Random(15)

    def write(k: int, flush_at: int | None) -> list[str]:
        own, touched = ids[k::WRITERS], []
        for n in range(MATCHES_PER_WRITER):
            if n == flush_at:  # Redis loses everything, mid-round
                delete_keys(settings.redis_url, settings.redis_prefix)
            a, b = rng.sample(own, 2)
            response = record_match(
                clients[k], writer, a, b, rng.choice([0.0, 0.5, 1.0]), ladder="race"
            )
            assert response.status_code == 201, response.text
            after = response.json()["ratings"]
            for player, side in ((a, "a"), (b, "b")):
                standing = clients[k].get(f"/v1/ladders/race/players/{player}").json()
                assert standing["rating"] == after[side]["after"]  # read-your-writes
                touched.append(player)
        return touched

    try:
        with ThreadPoolExecutor(WRITERS) as pool:
            for round_ in range(ROUNDS):
                flush = round_ == FLUSH_ROUND
                futures = [
                    pool.submit(write, k, 3 if flush and k == 0 else None) for k in range(WRITERS)
                ]
                touched = [player for future in futures for player in future.result()]
                if flush:
                    # Answers stay right from Postgres; those reads asked for a rebuild.
                    assert jobs.resources.index.live("race") is None
                    assert_answers_equal_postgres(api, db, "race", touched[:20])
                    drain(jobs, queues["LADDER_JOBS_QUEUE_URL"])
                    assert jobs.resources.index.live("race") is not None  # back by itself
                assert_answers_equal_postgres(api, db, "race", touched + rng.sample(ids, 10))
    finally:
        for test_client, res in zip(clients, apps, strict=True):
            test_client.close()
            res.close()

    # Every player's rank and percentile, once at the end.
    final = independent_board(db, "race")
    for index, row in enumerate(final):
        standing = api.get(f"/v1/ladders/race/players/{row['player_id']}").json()
        assert (standing["rank"], standing["percentile"]) == (
            index + 1,
            100 * (len(final) - index - 1) / len(final),
        )
    assert sync.reconcile(jobs.resources, "race", settle=0)["drift"] == 0


def test_a_rebuild_serves_the_old_index_until_the_new_one_is_whole(
    client, db, writer, admin, resources, settings, monkeypatch
):
    """Mid-rebuild, reads come from the complete old generation; a match recorded
    meanwhile is in the new one once it is live."""
    create_ladder(client, admin, "flip")
    seed_tied_ladder(resources, "flip", 60)
    assert sync.rebuild(resources, "flip")["rebuilt"]
    ids = player_ids(db, "flip")
    monkeypatch.setattr(sync, "APPLY_BATCH", 7)  # the snapshot loads in 9 blocks
    load, seen, expected = RankIndex.load, [], [independent_board(db, "flip")]

    def load_then_read(index, slug, gen, block, *, windowed):
        assert load(index, slug, gen, block, windowed=windowed)
        seen.append(gen)
        assert index.live(slug) != gen  # not live while loading
        page = indexed_page(index, slug, 100, None, None)
        assert shown(page.model_dump(mode="json")) == expected[-1]  # the old, whole
        if len(seen) == 1:  # another API process records a match
            response = record_match(elsewhere, writer, ids[0], ids[1], 1.0, ladder="flip")
            assert response.status_code == 201
            expected.append(independent_board(db, slug))
        return True

    monkeypatch.setattr(RankIndex, "load", load_then_read)
    other = Resources.from_settings(settings)
    try:
        with TestClient(create_app(other)) as elsewhere:
            assert sync.rebuild(resources, "flip")["rebuilt"]
    finally:
        other.close()
    assert len(seen) == 9
    assert resources.index.live("flip") == seen[0]
    page = indexed_page(resources.index, "flip", 100, None, None)
    assert shown(page.model_dump(mode="json")) == independent_board(db, "flip")
    assert sync.reconcile(resources, "flip", settle=0)["drift"] == 0


def test_a_board_policy_change_is_read_at_once_then_indexed(api, jobs, queues, db, writer, admin):
    create_ladder(api, admin, "policy")
    seed_tied_ladder(jobs.resources, "policy", 40)
    drain(jobs, queues["LADDER_JOBS_QUEUE_URL"])
    assert jobs.resources.index.live("policy") is not None
    response = api.patch("/v1/ladders/policy", json={"board": {"min_games": 3}}, headers=admin)
    assert response.status_code == 200, response.text
    assert jobs.resources.index.live("policy") is None  # dropped before the answer
    down, _ = walk(api, "policy", 7)
    assert down == independent_board(db, "policy")
    assert min(row["games"] for row in down) == 3
    drain(jobs, queues["LADDER_JOBS_QUEUE_URL"])
    assert jobs.resources.index.live("policy") is not None
    down, up = walk(api, "policy", 7)
    assert down == up == independent_board(db, "policy")


def test_players_leave_an_inactivity_board_as_time_passes(client, db, writer, admin, resources):
    create_ladder(client, admin, "idle", board={"min_games": 1, "inactive_after_days": 1})
    ids = [create_player(client, writer, f"idle_{i}")["id"] for i in range(6)]
    soon_idle = datetime.now(UTC) - timedelta(days=1) + timedelta(seconds=3)
    for a, b in ((0, 1), (2, 3)):
        played = soon_idle.isoformat()
        record_match(client, writer, ids[a], ids[b], 1.0, ladder="idle", played_at=played)
    record_match(client, writer, ids[4], ids[5], 0.5, ladder="idle")
    assert sync.rebuild(resources, "idle")["rebuilt"]
    first = client.get("/v1/ladders/idle/leaderboard").json()
    assert len(first["items"]) == 6
    time.sleep(max(0.0, (soon_idle + timedelta(days=1) - datetime.now(UTC)).total_seconds()))
    time.sleep(0.5)
    indexed = client.get("/v1/ladders/idle/leaderboard").json()
    assert [row["handle"] for row in indexed["items"]] == ["idle_4", "idle_5"]
    standing = client.get(f"/v1/ladders/idle/players/{ids[0]}").json()
    assert (standing["on_board"], standing["rank"]) == (False, None)
    resources.index.drop("idle")
    assert client.get("/v1/ladders/idle/leaderboard").json()["items"] == indexed["items"]


def test_an_update_older_than_what_the_index_holds_changes_nothing(
    client, writer, admin, db, resources
):
    create_ladder(client, admin, "late")
    a, b = (create_player(client, writer, f"late_{i}")["id"] for i in range(2))
    assert sync.rebuild(resources, "late")["rebuilt"]
    record_match(client, writer, a, b, 1.0, ladder="late")
    first = db.execute(
        f"SELECT {indexed_columns()} FROM standings WHERE player_id = %s", (a,)
    ).fetchone()
    record_match(client, writer, a, b, 1.0, ladder="late")
    newest = independent_board(db, "late")
    assert resources.index.apply("late", [list(first.values())])  # version 1, after 2
    page = client.get("/v1/ladders/late/leaderboard").json()
    assert shown(page) == newest
    assert sync.reconcile(resources, "late", settle=0)["drift"] == 0


def test_drift_is_reported_and_repaired(client, writer, admin, db, resources, settings):
    import redis

    create_ladder(client, admin, "drift")
    ids = [create_player(client, writer, f"dr_{i}")["id"] for i in range(4)]
    record_match(client, writer, ids[0], ids[1], 1.0, ladder="drift")
    record_match(client, writer, ids[2], ids[3], 0.5, ladder="drift")
    assert sync.rebuild(resources, "drift")["rebuilt"]
    live = resources.index.live("drift")
    # Someone writes to Redis behind the index's back: a wrong rating, a stray member.
    raw = redis.Redis.from_url(settings.redis_url, decode_responses=True)
    board = f"{resources.index.base('drift')}:{live}:board"
    member = raw.zrange(board, 0, 0)[0]
    raw.zadd(board, {member: -2000.0, "0000000005ghost 00000000-0000-4000-8000-000000000000": -1})
    raw.close()
    result = sync.reconcile(resources, "drift", settle=0, inline=True)
    assert result["drift"] == 2
    assert result["rebuilt"]
    assert sync.reconcile(resources, "drift", settle=0)["drift"] == 0
    down, _ = walk(client, "drift", 2)
    assert down == independent_board(db, "drift")


def test_with_redis_down_postgres_answers_and_a_rebuild_waits(settings, db, writer, admin):
    from ladder_dev.local_services import free_port

    down = Resources.from_settings(
        settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{free_port()}/0"})
    )
    try:
        with TestClient(create_app(down)) as client:
            create_ladder(client, admin, "dark")
            ids = [create_player(client, writer, f"dk_{i}")["id"] for i in range(4)]
            for a, b in ((0, 1), (2, 3), (0, 2)):
                assert (
                    record_match(client, writer, ids[a], ids[b], 1.0, ladder="dark").status_code
                    == 201
                )
            down_, up = walk(client, "dark", 3)
            assert down_ == up == independent_board(db, "dark")
            standing = client.get(f"/v1/ladders/dark/players/{ids[0]}").json()
            assert standing["rank"] == 1
        with pytest.raises(sync.RankIndexUnavailable):
            sync.rebuild(down, "dark")
    finally:
        down.close()


def test_a_write_that_could_not_reach_the_index_drops_it_for_every_reader(
    client, writer, admin, db, resources, settings
):
    """Redis stalls past the client's timeout while a write updates the index: the
    write still answers, and the index it missed is dropped (though the failure just
    opened this process's circuit), so no other process serves it without the write."""
    import redis

    create_ladder(client, admin, "stall")
    ids = [create_player(client, writer, f"st_{i}")["id"] for i in range(4)]
    record_match(client, writer, ids[0], ids[1], 1.0, ladder="stall")
    assert sync.rebuild(resources, "stall")["rebuilt"]
    raw = redis.Redis.from_url(settings.redis_url)
    try:
        raw.execute_command("CLIENT", "PAUSE", 400, "WRITE")  # the apply times out at 250
        response = record_match(client, writer, ids[2], ids[3], 1.0, ladder="stall")
        assert response.status_code == 201
    finally:
        raw.execute_command("CLIENT", "UNPAUSE")
        raw.close()
    other = Resources.from_settings(settings)
    try:
        assert other.index.live("stall") is None
        with TestClient(create_app(other)) as elsewhere:
            down, _ = walk(elsewhere, "stall", 10)
        assert down == independent_board(db, "stall")
        jobs = db.execute("SELECT payload FROM jobs WHERE type = 'rank.rebuild'").fetchall()
        assert [job["payload"] for job in jobs] == [{"ladder": "stall"}]
    finally:
        other.close()


def test_a_retried_match_whose_first_answer_was_lost_updates_the_index(
    client, writer, admin, db, resources, monkeypatch
):
    """The process that committed a match died before updating the index; the game
    server's retry (same key) gets the stored answer, and the index catches up."""
    create_ladder(client, admin, "retry")
    ids = [create_player(client, writer, f"rt_{i}")["id"] for i in range(2)]
    record_match(client, writer, ids[0], ids[1], 1.0, ladder="retry")
    assert sync.rebuild(resources, "retry")["rebuilt"]
    with monkeypatch.context() as crash:
        crash.setattr(commands.AfterCommit, "run", lambda self, res: None)  # died here
        first = record_match(client, writer, ids[1], ids[0], 1.0, key="m-2", ladder="retry")
    stale = client.get("/v1/ladders/retry/leaderboard").json()
    assert shown(stale) != independent_board(db, "retry")  # the index missed it
    again = record_match(client, writer, ids[1], ids[0], 1.0, key="m-2", ladder="retry")
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    page = client.get("/v1/ladders/retry/leaderboard").json()
    assert shown(page) == independent_board(db, "retry")


def test_a_rebuild_remembers_the_versions_of_players_off_the_board(
    client, writer, admin, db, resources
):
    """Off the board after a void (one game, min_games 2): a late update from before the
    void must not put them back, after a rebuild as before it."""
    create_ladder(client, admin, "tomb", board={"min_games": 2})
    a, b = (create_player(client, writer, f"tomb_{i}")["id"] for i in range(2))
    record_match(client, writer, a, b, 1.0, ladder="tomb")
    second = record_match(client, writer, a, b, 1.0, ladder="tomb").json()
    ranked = db.execute(
        f"SELECT {indexed_columns()} FROM standings WHERE player_id = ANY(%s)", ([a, b],)
    ).fetchall()
    assert len(independent_board(db, "tomb")) == 2
    job = client.post(f"/v1/matches/{second['id']}/void", headers=admin).json()["job_id"]
    commands.run_job_here(resources, job)
    assert independent_board(db, "tomb") == []
    assert sync.rebuild(resources, "tomb")["rebuilt"]
    assert resources.index.apply("tomb", [list(row.values()) for row in ranked])
    assert client.get("/v1/ladders/tomb/leaderboard").json()["items"] == []


def test_a_rebuild_waits_its_turn_and_clears_what_a_failed_one_left(
    client, writer, admin, db, resources
):
    create_ladder(client, admin, "turns")
    ids = [create_player(client, writer, f"tn_{i}")["id"] for i in range(2)]
    record_match(client, writer, ids[0], ids[1], 1.0, ladder="turns")
    held = resources.index.lock_rebuild("turns")
    with pytest.raises(sync.RebuildBusy):  # a job: deferred, sent again by the sweeper
        sync.rebuild(resources, "turns")
    resources.index.unlock_rebuild("turns", held)
    # What a rebuild that died mid-load leaves: a generation writers still update.
    orphan = resources.index.begin("turns", sync.policy_of(_ladder(resources, "turns")))
    record_match(client, writer, ids[1], ids[0], 1.0, ladder="turns")
    assert sync.rebuild(resources, "turns")["rebuilt"]
    live = resources.index.live("turns")
    assert live != orphan
    gens = resources.cache.client.smembers(f"{resources.index.base('turns')}:gens")
    assert gens == {live}
    assert not resources.cache.client.exists(f"{resources.index.base('turns')}:{orphan}:who")


def _ladder(resources, slug):
    from ladder.ladders import find_ladder

    return resources.db.run(lambda conn: find_ladder(conn, slug))


def test_a_recalculation_that_changes_many_goes_live_whole(
    client, writer, admin, db, resources, monkeypatch
):
    """Beyond APPLY_INSTEAD_OF_REBUILD changed standings, a recalculation's changes come
    as a new generation flipped live (no mix of old and new ratings on the board)."""
    create_ladder(client, admin, "bulk")
    ids = [create_player(client, writer, f"bk2_{i}")["id"] for i in range(6)]
    first = record_match(client, writer, ids[0], ids[1], 1.0, ladder="bulk").json()
    for a, b in ((0, 2), (1, 3), (4, 5), (0, 5)):
        record_match(client, writer, ids[a], ids[b], 0.5, ladder="bulk")
    assert sync.rebuild(resources, "bulk")["rebuilt"]
    before = resources.index.live("bulk")
    monkeypatch.setattr(sync, "APPLY_INSTEAD_OF_REBUILD", 1)
    job = client.post(f"/v1/matches/{first['id']}/void", headers=admin).json()["job_id"]
    commands.run_job_here(resources, job)
    assert resources.index.live("bulk") not in (None, before)
    down, up = walk(client, "bulk", 4)
    assert down == up == independent_board(db, "bulk")
