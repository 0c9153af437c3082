"""`ladder`: the operator CLI.

Run from a checkout where `make dev` is running, it reads `.ladder/dev.env`
(under `LADDER_DEV_DIR` if set) for any variable that is not set, so
commands act on the local stack. stdout carries only results (ids, tables);
progress and logs go to stderr; a failure is one line on stderr, exit 1
(2 for usage), never a traceback (`ladder.cli_errors`).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Iterator
from importlib.metadata import entry_points

from ladder.auth import KNOWN_SCOPES
from ladder.cli_errors import CliError, explain
from ladder.models import DEFAULT_LADDER

COMMAND_ENTRY_POINTS = "ladder.cli"  # each: a callable given the subparsers to add to


class _Parser(argparse.ArgumentParser):
    """Usage errors in one line, exit 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def _load_dev_env() -> None:
    from dotenv import load_dotenv

    from ladder.settings import dev_env_file

    load_dotenv(dev_env_file(), override=False)


def cmd_migrate(args: argparse.Namespace) -> int:
    from ladder.db.migrations import latest_version, migrate
    from ladder.settings import get_settings

    settings = get_settings()
    if args.target is not None:
        applied = migrate(settings.database_url, target=args.target)
    else:
        from ladder.maintenance import prepare_database

        outcome = prepare_database(settings)
        applied = outcome["applied"]
        if outcome["recalculation"]:
            print(f"rating rules changed: recalculation {outcome['recalculation']} scheduled")
    target = latest_version() if args.target is None else args.target
    print(f"applied {applied}" if applied else f"nothing to apply; at version {target}")
    return 0


def cmd_token(args: argparse.Namespace) -> int:
    from ladder.auth import issue_dev_token
    from ladder.settings import get_settings

    settings = get_settings()
    if settings.auth_mode != "hs256":
        raise CliError(
            "this stage verifies Cognito tokens (LADDER_AUTH_MODE=jwks): get one from its "
            "token endpoint with an app client's id and secret"
        )
    print(issue_dev_token(settings.jwt_secret, args.scope, subject=args.subject, ttl=args.ttl))
    return 0


def cmd_recalc(args: argparse.Namespace) -> int:
    import time

    from ladder.commands import OPERATOR, request_recalculation
    from ladder.jobs.store import job_status
    from ladder.progress import progress
    from ladder.resources import Resources
    from ladder.settings import get_settings

    settings = get_settings()
    res = Resources.from_settings(settings)
    try:
        job_id = request_recalculation(res, OPERATOR, args.since, args.ladder).body["job_id"]
        print(f"recalculation job {job_id}")
        if args.no_wait:
            return 0
        if not settings.jobs_queue_url:
            raise CliError(
                f"job {job_id} is recorded, but no worker will run it: no jobs queue is "
                "configured (LADDER_JOBS_QUEUE_URL; make dev writes it), so nothing to wait for"
            )
        with progress("recalculating") as bar:
            while True:
                job = job_status(res.db, job_id)
                bar.update(job["progress"], job["status"])
                if job["status"] in ("succeeded", "failed"):
                    break
                time.sleep(0.5)
    finally:
        res.close()
    if job["status"] == "failed":
        raise CliError(f"recalculation {job_id} failed: {job['error']}")
    result = job["result"]
    print(
        f"done: {result['matches']} matches replayed, {result['players_changed']} players changed"
    )
    return 0


def cmd_queues(args: argparse.Namespace) -> int:
    from ladder.jobs.queues import queue_stats
    from ladder.resources import Resources
    from ladder.settings import get_settings

    res = Resources.from_settings(get_settings())
    try:
        stats = queue_stats(res.settings, res.db)
    finally:
        res.close()
    header = ("queue", "visible", "in_flight", "delayed", "oldest_age_s", "dlq_depth")
    print("  ".join(f"{h:>12}" for h in header))
    for row in stats:
        print(
            "  ".join(f"{'-' if row[h] is None else row[h]!s:>12}" for h in ("name", *header[1:]))
        )
    return 0


def cmd_ranks(args: argparse.Namespace) -> int:
    from ladder.errors import NotFound
    from ladder.ladders import find_ladder
    from ladder.rank_index import sync
    from ladder.resources import Resources
    from ladder.settings import get_settings

    res = Resources.from_settings(get_settings())
    try:
        try:
            res.db.run(lambda conn: find_ladder(conn, args.ladder))
        except NotFound:
            raise CliError(
                f"no ladder {args.ladder!r}: GET /v1/ladders lists them (the default is 'default')"
            ) from None
        res.cache.ping()  # raises if Redis does not answer: explained in one line
        if args.action == "rebuild":
            result = sync.rebuild(res, args.ladder)
            if not result["rebuilt"]:
                raise CliError(
                    f"not rebuilt: {result.get('reason', 'its board changed meanwhile')}"
                )
            print(f"rebuilt: {result['players']} players ranked in {result['seconds']} s")
        else:
            result = sync.reconcile(res, args.ladder, inline=True)
            drift = result["drift"]
            if drift is None:
                print(f"no live index: {'rebuilt' if result.get('rebuilt') else 'not rebuilt'}")
            else:
                print(f"drift: {drift}" + (" (repaired by a rebuild)" if drift else ""))
    finally:
        res.close()
    return 0


def cmd_backup(args: argparse.Namespace) -> int:
    from ladder.backup import restore, verify
    from ladder.backup.manifest import list_backups
    from ladder.backup.store import Store
    from ladder.commands import back_up
    from ladder.progress import progress
    from ladder.settings import get_settings

    settings = get_settings()
    store = Store(settings)
    if args.action == "list":
        for b in list_backups(store):
            verified = b["last_verification"]
            check = "unverified" if verified is None else ("ok" if verified["ok"] else "FAILED")
            print(
                f"{b['id']}  v{b['schema_version']}  {b['tables']} tables  {b['rows']} rows  "
                f"{b['bytes']} bytes  {b['seconds']:.1f}s  {check}"
                + ("  anonymized" if b["anonymized"] else "")
            )
        return 0
    if args.action == "create":
        with progress("backup") as bar:
            manifest = back_up(settings, report=bar.update)
        print(manifest.id)
        return 0
    if args.action == "verify":
        with progress(f"verify {args.id}") as bar:
            result = verify.verify_backup(store, args.id, report=bar.update)
        for problem in result["problems"]:
            print(problem, file=sys.stderr)
        print("ok" if result["ok"] else "FAILED")
        return 0 if result["ok"] else 1
    with progress(f"restore {args.id}") as bar:
        restore.restore_backup(
            store,
            args.id,
            args.target_url,
            force=args.force,
            live_url=settings.database_url,
            report=bar.update,
        )
    print(f"restored {args.id}")
    return 0


def cmd_anonymize(args: argparse.Namespace) -> int:
    from ladder.anonymize.export import export_anonymized
    from ladder.backup.store import Store
    from ladder.progress import progress
    from ladder.settings import get_settings

    settings = get_settings()
    if not settings.anonymize_salt:
        raise CliError(
            "set LADDER_ANONYMIZE_SALT to a secret of your own (make dev writes a development "
            "one to .ladder/dev.env)"
        )
    with progress("anonymized export") as bar:
        manifest = export_anonymized(
            settings.database_url, Store(settings), settings.anonymize_salt, report=bar.update
        )
    print(manifest.id)
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from datetime import UTC

    from ladder.commands import import_matches, import_standings
    from ladder.jobs.store import job_status
    from ladder.progress import progress
    from ladder.resources import Resources
    from ladder.settings import get_settings

    res = Resources.from_settings(get_settings())
    try:
        try:
            source = open(args.file, "rb")  # noqa: SIM115 - closed right after the load
        except OSError as exc:
            raise CliError(f"cannot read {args.file}: {exc.strerror}") from None
        load = import_matches if args.kind == "matches" else import_standings
        with source, progress(f"import {args.file}") as bar:
            loaded = load(res, source, args.ladder, report=bar.update)
        job = None if loaded.job_id is None else job_status(res.db, loaded.job_id)
        if loaded.already and (job is None or job["status"] == "succeeded"):
            imported = loaded.imported_at.astimezone(UTC)
            print(
                f"already imported into {args.ladder} on {imported:%Y-%m-%d %H:%M}Z:"
                f" {loaded.rows} {args.kind}; nothing changed"
            )
            return 0
        if job is not None:
            # Stored now, or before by a run whose rating step did not finish: rate them.
            job = _rate_imported(res, loaded.job_id, args.ladder, loaded.rows)
    finally:
        res.close()
    if job is not None and job["status"] != "succeeded":
        raise CliError(
            f"{loaded.rows} {args.kind} are stored but not yet rated: recalculation"
            f" {loaded.job_id} is {job['status']} ({job['error']}); run this import again"
        )
    print(f"imported {loaded.rows} {args.kind} into {args.ladder}")
    return 0


def _rate_imported(res, job_id, ladder: str, rows: int) -> dict:
    """Run an import's recalculation here, as the worker would, waiting while another
    recalculation holds the lease; its progress is in its job row, which this thread
    reads. Interrupted, the job is marked failed and its lease freed at once."""
    import threading
    import time

    from ladder.commands import run_job_here
    from ladder.jobs import store
    from ladder.progress import progress

    failure: list[BaseException] = []

    def rate() -> None:
        try:
            while store.job_status(res.db, job_id)["status"] != "succeeded":
                run_job_here(res, job_id)
                if store.job_status(res.db, job_id)["status"] == "queued":
                    time.sleep(2)  # deferred: another recalculation runs; try again
        except BaseException as exc:  # reported by the caller, from its own thread
            failure.append(exc)

    worker = threading.Thread(target=rate, daemon=True)
    worker.start()
    try:
        with progress(f"rating {rows:,} matches in {ladder}") as bar:
            while worker.is_alive():
                worker.join(0.5)
                job = store.job_status(res.db, job_id)
                bar.update(job["progress"], job["status"])
    except KeyboardInterrupt:
        store.mark_failed(res.db, job_id, "interrupted")
        store.release_lease(res.db, job_id)
        raise
    job = store.job_status(res.db, job_id)
    if failure and job["status"] != "succeeded":
        raise CliError(
            f"{rows} matches are stored but not yet rated: {explain(failure[0])};"
            " run this import again"
        )
    return job


def _slug(raw: str) -> str:
    import re

    from ladder.text import SLUG_PATTERN

    if not re.fullmatch(SLUG_PATTERN, raw):
        raise argparse.ArgumentTypeError(
            f"{raw!r} is not a ladder slug (a-z first, then 1–31 of a-z, 0-9, -)"
        )
    return raw


def _timestamp(raw: str):
    from datetime import UTC, datetime

    example = "e.g. 2026-01-01T00:00:00Z"
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{raw!r} is not an ISO-8601 time ({example})") from None
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError(f"give a UTC offset ({example})")
    try:
        return value.astimezone(UTC)
    except OverflowError:  # within a day of year 1 or 9999, shifted out of range
        raise argparse.ArgumentTypeError(f"{raw!r} is out of range ({example})") from None


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="ladder", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    parser.set_defaults(needs_database=True)
    commands = parser.add_subparsers(dest="command", required=True)

    migrate = commands.add_parser("migrate", help="apply pending database migrations")
    migrate.add_argument("--target", type=int, help="stop at this version (default: latest)")
    migrate.set_defaults(run=cmd_migrate)

    token = commands.add_parser("token", help="print a bearer token the local stack accepts")
    token.add_argument("--scope", nargs="+", action="extend", choices=KNOWN_SCOPES, required=True)
    token.add_argument("--subject", default="ladder-cli", help="the token's `sub` claim")
    token.add_argument(
        "--ttl", type=int, default=3600, help="seconds until it expires (at most a day)"
    )
    token.set_defaults(run=cmd_token, needs_database=False)

    recalc = commands.add_parser("recalc", help="recalculate ratings (all, or from a time)")
    recalc.add_argument(
        "--from", dest="since", type=_timestamp, help="only matches played at or after this"
    )
    recalc.add_argument(
        "--ladder", type=_slug, default=DEFAULT_LADDER, help="the ladder's slug (default: default)"
    )
    recalc.add_argument("--no-wait", action="store_true", help="schedule and return")
    recalc.set_defaults(run=cmd_recalc)

    imports = commands.add_parser(
        "import", help="import a ladder's history from CSV (validated whole first)"
    )
    imports.add_argument(
        "kind",
        choices=["matches", "standings"],
        help="matches: played_at,player_a,player_b,score_a; standings: handle,rating,games"
        " (opening balances of players new to the ladder)",
    )
    imports.add_argument("file", help="the CSV file")
    imports.add_argument("--ladder", type=_slug, required=True, help="the ladder's slug")
    imports.set_defaults(run=cmd_import)

    queues = commands.add_parser("queues", help="depth and age of the job queues")
    queues.set_defaults(run=cmd_queues)

    ranks = commands.add_parser("ranks", help="the rank index in Redis")
    ranks.add_argument(
        "action",
        choices=["rebuild", "check"],
        help="rebuild: from Postgres now; check: compare with Postgres, repair any drift",
    )
    ranks.add_argument(
        "--ladder", type=_slug, default=DEFAULT_LADDER, help="the ladder's slug (default: default)"
    )
    ranks.set_defaults(run=cmd_ranks)

    backup = commands.add_parser("backup", help="logical backups in S3")
    actions = backup.add_subparsers(dest="action", required=True)
    actions.add_parser("create", help="back up every table; prints the backup's id")
    listing = actions.add_parser("list", help="complete backups, newest first")
    verify = actions.add_parser("verify", help="re-read a backup's objects: hashes and counts")
    verify.add_argument("id")
    restore = actions.add_parser("restore", help="restore a backup into an empty database")
    restore.add_argument("id")
    restore.add_argument(
        "--target-url",
        required=True,
        help="database to restore into, never the live one; no password in it: libpq reads "
        "PGPASSWORD or ~/.pgpass (with LADDER_DB_IAM_AUTH, an IAM token is made)",
    )
    restore.add_argument("--force", action="store_true", help="replace a non-empty target")
    backup.set_defaults(run=cmd_backup)
    for only_s3 in (listing, verify, restore):  # the bucket (and restore's own target)
        only_s3.set_defaults(needs_database=False)

    anonymize = commands.add_parser("anonymize", help="anonymized exports for staging")
    anonymize_actions = anonymize.add_subparsers(dest="action", required=True)
    anonymize_actions.add_parser("export", help="an anonymized backup; prints its id")
    anonymize.set_defaults(run=cmd_anonymize)

    # Commands other installed packages add (the development tools add `chaos`): found
    # through their entry points, so nothing of theirs ships where they are absent.
    for entry in entry_points(group=COMMAND_ENTRY_POINTS):
        try:
            entry.load()(commands)
        except Exception as exc:  # a broken plugin costs its command, not the CLI
            if os.environ.get("LADDER_DEBUG"):
                raise
            print(f"ladder: command {entry.name!r} skipped: {explain(exc)}", file=sys.stderr)
    return parser


METRICS_OFF = "POWERTOOLS_METRICS_DISABLED"


@contextlib.contextmanager
def _results_only_on_stdout(verbose: bool) -> Iterator[None]:
    """Logs to stderr (warnings only unless --verbose), and no EMF metric blobs at all:
    a script doing `ID=$(ladder backup create)` gets exactly the id. Undone on exit, so
    calling `main` in-process (tests) leaves the process's logging as it was."""
    import logging

    from ladder.observability import logger

    handler, pool_log = logger.registered_handler, logging.getLogger("psycopg.pool")
    saved = (handler.stream, logger.log_level, pool_log.level)
    metrics_were = os.environ.get(METRICS_OFF)
    os.environ[METRICS_OFF] = metrics_were or "true"
    handler.setStream(sys.stderr)
    logger.setLevel("INFO" if verbose else "WARNING")
    # The pool retries a refused connection, logging each try; the error says it once.
    pool_log.setLevel("WARNING" if verbose else "CRITICAL")
    try:
        yield
    finally:
        handler.setStream(saved[0])
        logger.setLevel(saved[1])
        pool_log.setLevel(saved[2])
        if metrics_were is None:
            os.environ.pop(METRICS_OFF, None)


def _require_database(args: argparse.Namespace) -> None:
    """Commands that touch the database need one named: never the built-in default (a
    local server's `postgres` database) just because the CLI ran outside the checkout."""
    if args.needs_database and not (
        os.environ.get("DATABASE_URL") or os.environ.get("LADDER_DATABASE_URL")
    ):
        from ladder.settings import dev_env_file

        raise CliError(
            f"no database configured: no DATABASE_URL and no {dev_env_file()} here; run from "
            "the checkout where make dev runs, set LADDER_DEV_DIR to its state directory, or "
            "set DATABASE_URL"
        )


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        _load_dev_env()
        _require_database(args)
        with _results_only_on_stdout(args.verbose):
            return args.run(args)
    except KeyboardInterrupt:
        print("ladder: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if os.environ.get("LADDER_DEBUG"):
            raise
        print(f"ladder {args.command}: {explain(exc)}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
