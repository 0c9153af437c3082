"""The upgrade to ladders: a database of the single-ladder schema (migration 7), with
real data in every table, becomes the ladder `default` without one value changing;
and a backup taken before the upgrade restores, then upgrades, to the same."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from ladder.backup.dump import create_backup
from ladder.backup.restore import restore_backup
from ladder.db import Database
from ladder.db.migrations import latest_version, migrate
from ladder.ratings.recalculation import recalculate
from tests.helpers import SPEC_RULES

LAST_SINGLE_LADDER_VERSION = 7
# The rules as the single-ladder version recorded them: the settings' six, no gap cap.
SETTINGS_RULES = {name: value for name, value in SPEC_RULES.items() if name != "max_rating_gap"}


def fill_single_ladder_database(url: str) -> None:
    """Players, matches (some voided, recalculated away), history, events (published and
    not), jobs of every state, idempotency records and the applied rules, as the
    single-ladder version wrote them."""
    rng = random.Random(8)
    players = [uuid.uuid4() for _ in range(25)]
    start = datetime(2025, 6, 1, tzinfo=UTC)
    matches = []
    for seq in range(1, 401):
        a, b = rng.sample(players[:22], 2)  # three players never play
        at = start + timedelta(minutes=seq, microseconds=rng.randrange(1_000_000))
        matches.append((uuid.uuid4(), seq, at, a, b, rng.choice([0.0, 0.5, 1.0]), seq % 37 == 0))
    kept = [m for m in matches if not m[6]]
    # History as the spec's replay writes it: before/after of each player, in order.
    state: dict = {}
    history = []
    for match_id, seq, at, a, b, score, _ in kept:
        before = {p: state.get(p, (1500.0, 0)) for p in (a, b)}
        after = _rate(before[a], before[b], score)
        state[a], state[b] = after
        history += [
            (a, match_id, at, seq, before[a][0], after[0][0]),
            (b, match_id, at, seq, before[b][0], after[1][0]),
        ]
    with (
        psycopg.connect(url, autocommit=True) as conn,
        conn.transaction(),
        conn.cursor() as cur,
    ):
        cur.executemany(
            "INSERT INTO players (id, handle, display_name, email, rating, games, created_at)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s)",
            [
                (
                    p,
                    f"old_{i}",
                    f"Old {i}",
                    f"old{i}@example.com",
                    *state.get(p, (1500.0, 0)),
                    start,
                )
                for i, p in enumerate(players)
            ],
        )
        cur.executemany(
            "INSERT INTO matches (id, seq, played_at, player_a, player_b, score_a, voided,"
            " voided_at) VALUES (%s, %s, %s, %s, %s, %s, %s, CASE WHEN %s THEN now() END)",
            [(*m, m[6]) for m in matches],
        )
        cur.executemany(
            "INSERT INTO rating_history (player_id, match_id, played_at, seq, rating_before,"
            " rating_after) VALUES (%s, %s, %s, %s, %s, %s)",
            history,
        )
        cur.executemany(
            "INSERT INTO event_outbox (type, topics, payload, seq, published_at)"
            " VALUES (%s, %s, %s, %s, %s)",
            [
                (
                    "match.recorded",
                    ["matches", f"player:{m[3]}", f"player:{m[4]}"],
                    Jsonb({"id": str(m[0]), "seq": m[1]}),
                    i + 1 if i < 300 else None,
                    start if i < 300 else None,
                )
                for i, m in enumerate(matches)
            ],
        )
        cur.executemany(
            "INSERT INTO jobs (id, type, status, payload, progress, result, created_at)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s)",
            [
                (
                    uuid.uuid4(),
                    "elo.recalculate",
                    "succeeded",
                    Jsonb({"from": None}),
                    1.0,
                    Jsonb({"matches": 389}),
                    start,
                ),
                (uuid.uuid4(), "backup.create", "failed", Jsonb({}), 0.2, None, start),
            ],
        )
        cur.execute(
            "INSERT INTO idempotency_records (principal, key, operation, request_hash,"
            " status_code, response) VALUES ('gs-1', 'k-1', 'POST /v1/matches', 'h', 201, %s)",
            (Jsonb({"id": str(matches[0][0])}),),
        )
        cur.execute(
            "INSERT INTO rating_rules_applied (rules) VALUES (%s)", (Jsonb(SETTINGS_RULES),)
        )
        cur.execute("SELECT setval('match_seq', 400)")


def _rate(a, b, score):
    """SPEC.md's formulas for one match from the given (rating, games) standings."""
    (ra, ga), (rb, gb) = a, b

    def k(rating, games):
        return 40.0 if games < 30 else (20.0 if rating < 2400 else 10.0)

    ea = 1 / (1 + 10 ** ((rb - ra) / 400))
    eb = 1 / (1 + 10 ** ((ra - rb) / 400))
    return (ra + k(ra, ga) * (score - ea), ga + 1), (rb + k(rb, gb) * ((1 - score) - eb), gb + 1)


def snapshot(url: str) -> dict:
    """Every value the upgrade must keep, keyed so that the two schemas compare."""
    with psycopg.connect(url, row_factory=dict_row) as conn:
        version = conn.execute("SELECT max(version) AS v FROM schema_migrations").fetchone()["v"]
        if version <= LAST_SINGLE_LADDER_VERSION:
            standings = "SELECT id AS player_id, handle, rating, games FROM players"
        else:
            standings = "SELECT player_id, handle, rating, games FROM standings WHERE ladder_id = 1"
        return {
            "standings": sorted(conn.execute(standings).fetchall(), key=lambda r: r["player_id"]),
            "players": conn.execute(
                "SELECT id, handle, display_name, email, created_at, updated_at FROM players"
                " ORDER BY id"
            ).fetchall(),
            "matches": conn.execute(
                "SELECT id, seq, played_at, player_a, player_b, score_a, voided, voided_at,"
                " recorded_at FROM matches ORDER BY seq"
            ).fetchall(),
            "history": conn.execute(
                "SELECT player_id, match_id, played_at, seq, rating_before, rating_after"
                " FROM rating_history ORDER BY seq, player_id"
            ).fetchall(),
            "events": conn.execute(
                "SELECT id, type, topics, payload, created_at, seq, published_at"
                " FROM event_outbox ORDER BY id"
            ).fetchall(),
            "jobs": conn.execute("SELECT * FROM jobs ORDER BY id").fetchall(),
            "idempotency": conn.execute("SELECT * FROM idempotency_records").fetchall(),
            # The next seq (a restore sets the sequence past its data without calling it).
            "next_seq": conn.execute(
                "SELECT CASE WHEN is_called THEN last_value + 1 ELSE last_value END AS n"
                " FROM match_seq"
            ).fetchone(),
        }


def assert_upgraded(url: str, before: dict) -> None:
    after = snapshot(url)
    for part, rows in before.items():
        assert after[part] == rows, part  # exact: floats bit for bit, ids, times
    with psycopg.connect(url, row_factory=dict_row) as conn:
        ladders = conn.execute("SELECT id, slug, rules FROM ladders").fetchall()
        assert ladders == [
            {"id": 1, "slug": "default", "rules": {**SETTINGS_RULES, "max_rating_gap": None}}
        ]
        orphans = conn.execute(
            "SELECT (SELECT count(*) FROM matches WHERE ladder_id <> 1)"
            " + (SELECT count(*) FROM rating_history WHERE ladder_id <> 1) AS n"
        ).fetchone()
        assert orphans["n"] == 0
        stale = conn.execute(
            "SELECT count(*) AS n FROM standings s WHERE last_played_at IS DISTINCT FROM"
            " (SELECT max(played_at) FROM rating_history h WHERE h.player_id = s.player_id)"
        ).fetchone()
        assert stale["n"] == 0


@pytest.fixture
def single_ladder_database(create_database) -> str:
    url = create_database("upgrade")
    migrate(url, target=LAST_SINGLE_LADDER_VERSION)
    fill_single_ladder_database(url)
    return url


def test_an_upgrade_moves_everything_into_the_default_ladder_unchanged(single_ladder_database):
    before = snapshot(single_ladder_database)
    assert len(before["history"]) == 2 * (400 - 10)  # ten voided matches have none
    applied = migrate(single_ladder_database)
    assert applied == list(range(LAST_SINGLE_LADDER_VERSION + 1, latest_version() + 1))
    assert_upgraded(single_ladder_database, before)

    # The upgraded ladder is consistent: a full recalculation changes no rating.
    db = Database(single_ladder_database, pool_size=1)
    try:
        job_id = uuid.uuid4()
        with psycopg.connect(single_ladder_database, autocommit=True) as conn:
            conn.execute("INSERT INTO jobs (id, type) VALUES (%s, 'elo.recalculate')", (job_id,))
        result = recalculate(db, job_id=job_id, ladder_id=1, start=None)
    finally:
        db.close()
    assert result["players_changed"] == 0
    assert snapshot(single_ladder_database)["standings"] == before["standings"]


def test_a_backup_from_before_the_upgrade_restores_then_upgrades(
    single_ladder_database, create_database, store
):
    before = snapshot(single_ladder_database)
    manifest = create_backup(single_ladder_database, store)
    assert manifest.schema_version == LAST_SINGLE_LADDER_VERSION
    migrate(single_ladder_database)  # the live database moves on; the backup stays old

    target = create_database("upgrade_restore")
    restore_backup(store, manifest.id, target)
    assert snapshot(target) == before
    migrate(target)
    assert_upgraded(target, before)


def test_rules_beyond_what_a_client_may_set_survive_the_upgrade(create_database):
    """Settings were never bounded like a client's rules: a ladder made from them works."""
    from ladder.ladders import LadderChange, find_ladder, get_ladder, update_ladder
    from ladder.models import RulesChange

    url = create_database("upgrade_bounds")
    migrate(url, target=LAST_SINGLE_LADDER_VERSION)
    odd = {**SETTINGS_RULES, "master_threshold": 1_000_000.0, "k_master": 5_000.0}
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("INSERT INTO rating_rules_applied (rules) VALUES (%s)", (Jsonb(odd),))
    migrate(url)
    db = Database(url, pool_size=1)
    try:
        assert get_ladder(db, "default").rules.master_threshold == 1_000_000.0
        changed, rerate = db.run(
            lambda conn: update_ladder(
                conn, "default", LadderChange(rules=RulesChange(k_provisional=32.0))
            )
        )
        assert (changed.rules.k_provisional, changed.rules.k_master) == (32.0, 5_000.0)
        assert rerate is not None
        assert db.run(lambda conn: find_ladder(conn, "default")).rules.k_master == 5_000.0
    finally:
        db.close()
