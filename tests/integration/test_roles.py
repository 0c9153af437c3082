"""Database roles on the real Postgres: the owner migrates, the application only reads and
writes rows, the relay only publishes the outbox; the bootstrap hands everything over."""

from __future__ import annotations

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from ladder.db.migrations import migrate
from ladder.db.roles import APP, OWNER, RELAY, bootstrap_roles


def as_role(url: str, role: str) -> str:
    return make_conninfo(url, user=role)


@pytest.fixture(scope="module")
def roles_database(create_database) -> str:
    """A database bootstrapped as the master (here the server's superuser), then migrated
    as the owner, as the deploy's migration does."""
    url = create_database("roles")
    with psycopg.connect(url, autocommit=True) as conn:
        bootstrap_roles(conn)
    migrate(as_role(url, OWNER))
    return url


@pytest.mark.parametrize(
    "statement",
    [
        "DROP TABLE players",
        "ALTER TABLE players ADD COLUMN x int",
        "CREATE TABLE intruder (id int)",
        "TRUNCATE players",
        "CREATE INDEX ON matches (score_a)",
        "DROP FUNCTION notify_outbox() CASCADE",
        "ALTER SEQUENCE match_seq RESTART",
        "INSERT INTO schema_migrations VALUES (99, 'x', 'x')",
        "CREATE DATABASE sneaky",
        "CREATE TEMP TABLE players (id int)",
    ],
)
def test_the_application_role_cannot_change_the_schema(roles_database, statement):
    with (
        psycopg.connect(as_role(roles_database, APP), autocommit=True) as conn,
        pytest.raises(psycopg.errors.InsufficientPrivilege),
    ):
        conn.execute(statement)


def test_the_application_role_reads_and_writes_rows(roles_database):
    with psycopg.connect(as_role(roles_database, APP)) as conn:
        conn.execute(
            "INSERT INTO players (id, handle, display_name) VALUES (gen_random_uuid(), 'r_1', 'R')"
        )
        conn.execute(
            "INSERT INTO standings (ladder_id, player_id, handle, rating)"
            " SELECT 1, id, handle, 1500 FROM players WHERE handle = 'r_1'"
        )
        conn.execute("UPDATE players SET display_name = 'S' WHERE handle = 'r_1'")
        assert conn.execute("SELECT nextval('match_seq')").fetchone()[0] >= 1
        conn.execute("TRUNCATE recalc_players_staging")  # the recalculation's staging
        conn.execute("LOCK TABLE standings IN EXCLUSIVE MODE")  # the recalculation's apply
        conn.rollback()


def test_the_relay_role_reaches_only_the_outbox(roles_database):
    with psycopg.connect(as_role(roles_database, RELAY), autocommit=True) as conn:
        conn.execute("SELECT count(*) FROM event_outbox")
        conn.execute("UPDATE event_outbox SET published_at = published_at, seq = seq WHERE false")
        for statement in (
            "SELECT * FROM players",
            "DELETE FROM event_outbox",
            "UPDATE event_outbox SET payload = '{}' WHERE false",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)


def test_the_owner_owns_everything_even_what_existed_before_the_bootstrap(create_database):
    url = create_database("rebootstrap")
    migrate(url)  # as the superuser, as a database made before roles existed
    with psycopg.connect(url, autocommit=True) as conn:
        bootstrap_roles(conn)
        bootstrap_roles(conn)  # safe twice
        owners = conn.execute(
            "SELECT DISTINCT pg_get_userbyid(relowner) FROM pg_class c"
            " JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = 'public' AND c.relkind IN ('r', 'S', 'i')"
        ).fetchall()
        assert owners == [(OWNER,)]
    assert migrate(as_role(url, OWNER)) == []  # the owner carries on where it left off


def test_on_rds_every_role_signs_in_with_iam(create_database, postgres_server_url):
    """Where `rds_iam` exists (RDS) each role is granted it; elsewhere none is."""
    with psycopg.connect(postgres_server_url, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = 'rds_iam'").fetchone():
            pytest.skip("this server already has an rds_iam role")
        conn.execute("CREATE ROLE rds_iam")
    try:
        url = create_database("rds")
        with psycopg.connect(url, autocommit=True) as conn:
            bootstrap_roles(conn)
            members = conn.execute(
                "SELECT u.rolname FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid"
                " JOIN pg_roles u ON u.oid = m.member WHERE r.rolname = 'rds_iam'"
            ).fetchall()
        assert sorted(m[0] for m in members) == sorted((OWNER, APP, RELAY))
    finally:
        with psycopg.connect(postgres_server_url, autocommit=True) as conn:
            conn.execute("DROP ROLE rds_iam")


def test_every_deploy_undoes_what_a_role_did_to_its_own_settings(roles_database):
    with psycopg.connect(as_role(roles_database, APP), autocommit=True) as conn:
        conn.execute("ALTER ROLE ladder_app SET default_transaction_read_only = on")
    with (
        psycopg.connect(as_role(roles_database, APP), autocommit=True) as conn,
        pytest.raises(psycopg.errors.ReadOnlySqlTransaction),
    ):
        conn.execute("DELETE FROM players WHERE false")
    with psycopg.connect(roles_database, autocommit=True) as conn:
        bootstrap_roles(conn)  # what the deploy's migration runs first
    with psycopg.connect(as_role(roles_database, APP), autocommit=True) as conn:
        conn.execute("DELETE FROM players WHERE false")
