"""Database roles: who may change the schema, who may only read and write rows.

- `ladder_owner` owns the database, its schema and every table: migrations,
  the deploy's rating-rules check and the restore drill (which creates a
  scratch database, hence CREATEDB) run as it.
- `ladder_app` reads and writes rows and nothing more: the API, the job
  worker, the backup, the sweeper's job dispatch and the stream service. It
  cannot create, alter or drop anything, so a compromised function cannot
  change the schema.
- `ladder_relay` publishes the event outbox: it reads the outbox and marks
  rows numbered and published, nothing else.

The RDS master user only bootstraps: `bootstrap_roles` creates the roles
(login, with `rds_iam` on RDS so they sign in with IAM tokens) and hands the
database to the owner. `grant_privileges` runs as the owner after every
migration run, so tables added later get the same grants.
"""

from __future__ import annotations

from functools import partial

import psycopg
from psycopg import sql
from psycopg.rows import tuple_row

OWNER = "ladder_owner"
APP = "ladder_app"
RELAY = "ladder_relay"
ROLES = (OWNER, APP, RELAY)

# Tables the recalculation empties with TRUNCATE before staging its results.
TRUNCATED_BY_APP = ("recalc_players_staging",)
# The relay's whole reach: it reads the outbox and numbers and confirms rows, and may not
# rewrite an event's type, topics or payload.
RELAY_GRANTS = "GRANT SELECT, UPDATE (seq, published_at) ON event_outbox TO {role}"

# Objects of schema public not yet owned by the role given, as (kind, name as SQL text):
# tables, free-standing sequences (one owned by a column follows its table) and
# functions (the outbox trigger's), named by the catalog's own quoting.
NOT_OWNED_BY = """
SELECT CASE c.relkind WHEN 'S' THEN 'SEQUENCE' ELSE 'TABLE' END, c.oid::regclass::text
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'S')
  AND c.relowner <> (SELECT oid FROM pg_roles WHERE rolname = %(owner)s)
  AND NOT EXISTS (
      SELECT 1 FROM pg_depend d
      WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype IN ('a', 'i')
  )
UNION ALL
SELECT 'FUNCTION', p.oid::regprocedure::text
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname = 'public' AND p.proowner <> (SELECT oid FROM pg_roles WHERE rolname = %(owner)s)
"""


def _role_exists(conn: psycopg.Connection, role: str) -> bool:
    return conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone() is not None


def _table_exists(conn: psycopg.Connection, table: str) -> bool:
    cur = conn.cursor(row_factory=tuple_row)
    return cur.execute("SELECT to_regclass(%s) IS NOT NULL", (table,)).fetchone()[0]


def bootstrap_roles(conn: psycopg.Connection) -> None:
    """As a role that may create roles (the RDS master, a local superuser): create ladder's
    roles if missing and give the connected database, its schema and its objects to the
    owner. Safe to run again, and from two processes at once."""
    for role in ROLES:
        # Roles are cluster-wide; another database's bootstrap may create one first.
        conn.execute(
            sql.SQL(
                "DO $$ BEGIN CREATE ROLE {} LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; "
                "END $$"
            ).format(sql.Identifier(role))
        )
    conn.execute(sql.SQL("ALTER ROLE {} CREATEDB").format(sql.Identifier(OWNER)))
    if _role_exists(conn, "rds_iam"):
        for role in ROLES:
            conn.execute(sql.SQL("GRANT rds_iam TO {}").format(sql.Identifier(role)))
    # RDS's master is no superuser: it may hand objects to the owner only as a member.
    conn.execute(sql.SQL("GRANT {} TO current_user").format(sql.Identifier(OWNER)))
    owner = sql.Identifier(OWNER)
    cur = conn.cursor(row_factory=tuple_row)
    (database,) = cur.execute("SELECT current_database()").fetchone()
    conn.execute(sql.SQL("ALTER DATABASE {} OWNER TO {}").format(sql.Identifier(database), owner))
    conn.execute(sql.SQL("ALTER SCHEMA public OWNER TO {}").format(owner))
    # Only the owner may create here, even temporary objects (which could shadow a
    # table within a session).
    conn.execute(
        sql.SQL("REVOKE CREATE, TEMPORARY ON DATABASE {} FROM PUBLIC").format(
            sql.Identifier(database)
        )
    )
    # A role may change its own session defaults (`ALTER ROLE ladder_app SET
    # default_transaction_read_only = on` would stop every write), and no privilege
    # prevents it: every deploy puts them back. Passwords: none, IAM tokens only.
    for role in ROLES:
        name = sql.Identifier(role)
        conn.execute(sql.SQL("ALTER ROLE {} RESET ALL").format(name))
        conn.execute(
            sql.SQL("ALTER ROLE {} IN DATABASE {} RESET ALL").format(name, sql.Identifier(database))
        )
        conn.execute(sql.SQL("ALTER ROLE {} PASSWORD NULL").format(name))
    # Objects made before the owner existed (by the master or a superuser). A
    # sequence owned by a column follows its table.
    for kind, name in cur.execute(NOT_OWNED_BY, {"owner": OWNER}).fetchall():
        conn.execute(sql.SQL("ALTER {} {} OWNER TO {}").format(sql.SQL(kind), sql.SQL(name), owner))


def grant_privileges(conn: psycopg.Connection) -> None:
    """As the owner (or a superuser), after migrations: rows for the app, the outbox for
    the relay. Roles that do not exist here (a plain local database) are skipped."""
    if _role_exists(conn, APP):
        app = sql.Identifier(APP)
        for statement in (
            "GRANT USAGE ON SCHEMA public TO {role}",
            "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}",
            "REVOKE INSERT, UPDATE, DELETE ON schema_migrations FROM {role}",
            "GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}",
        ):
            conn.execute(sql.SQL(statement).format(role=app))
        for table in filter(partial(_table_exists, conn), TRUNCATED_BY_APP):
            conn.execute(sql.SQL("GRANT TRUNCATE ON {} TO {}").format(sql.Identifier(table), app))
    if _role_exists(conn, RELAY) and _table_exists(conn, "event_outbox"):
        relay = sql.Identifier(RELAY)
        conn.execute(sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(relay))
        conn.execute(sql.SQL(RELAY_GRANTS).format(role=relay))
