"""The operator CLI as an operator runs it: the installed `ladder` script in a shell.

Results alone on stdout (`ID=$(ladder backup create)` gets the id); every failure
one line on stderr that says what to do, exit 1 (2 for usage), never a traceback.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import boto3
import pytest

from ladder_dev.local_services import free_port

LADDER = str(Path(sys.executable).parent / "ladder")


@pytest.fixture
def shell(tmp_path, settings, aws):
    """Runs `ladder …` from a directory with no dev.env, with exactly the given settings."""
    bucket = f"cli-{uuid.uuid4().hex[:8]}"
    boto3.client("s3", endpoint_url=aws["AWS_ENDPOINT_URL"]).create_bucket(Bucket=bucket)
    base = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.redis_url,
        "AWS_ENDPOINT_URL": aws["AWS_ENDPOINT_URL"],
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1",
        "LADDER_BACKUP_BUCKET": bucket,
    }

    def run(*args: str, **env: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [LADDER, *args],
            env={**base, **env},
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    return run


def one_line_error(result: subprocess.CompletedProcess, code: int, *words: str) -> None:
    assert result.returncode == code, result
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in lines[0], lines[0]


def test_backup_create_prints_only_the_id_and_verify_accepts_it(shell, populated):
    created = shell("backup", "create")
    assert created.returncode == 0, created.stderr
    backup_id = created.stdout.strip()
    assert created.stdout == f"{backup_id}\n"
    assert backup_id[:8].isdigit()
    verified = shell("backup", "verify", backup_id)
    assert (verified.returncode, verified.stdout) == (0, "ok\n")
    listed = shell("backup", "list")
    assert listed.stdout.startswith(backup_id)


def test_restoring_over_a_database_with_data_is_refused(
    shell, settings, populated, create_database
):
    backup_id = shell("backup", "create").stdout.strip()
    target = create_database("cli_restore")
    assert shell("backup", "restore", backup_id, "--target-url", target).returncode == 0
    refused = shell("backup", "restore", backup_id, "--target-url", target)
    one_line_error(refused, 1, "not empty", "--force")
    live = shell("backup", "restore", backup_id, "--target-url", settings.database_url, "--force")
    one_line_error(live, 1, "live database")


def test_an_unknown_backup_id(shell):
    one_line_error(shell("backup", "verify", "20990101T000000000000Z"), 1, "no complete backup")
    one_line_error(shell("backup", "restore", "nope", "--target-url", "postgresql:///x"), 1, "nope")


def test_an_unreachable_database(shell):
    gone = f"postgresql://postgres@127.0.0.1:{free_port()}/ladder"
    for command in (("migrate",), ("recalc", "--no-wait"), ("queues",)):
        one_line_error(shell(*command, DATABASE_URL=gone), 1, "cannot reach the database")


def test_an_unreachable_aws(shell):
    gone = f"http://127.0.0.1:{free_port()}"
    one_line_error(shell("backup", "list", AWS_ENDPOINT_URL=gone), 1, "cannot reach AWS")


def test_an_export_without_a_salt(shell):
    one_line_error(shell("anonymize", "export"), 1, "LADDER_ANONYMIZE_SALT")


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("recalc", "--from", "yesterday"), ("'yesterday' is not an ISO-8601 time",)),
        (("recalc", "--from", "2026-01-01T00:00:00"), ("UTC offset",)),
        (("recalc", "--ladder", "Bad Slug"), ("not a ladder slug",)),
        ((), ("required",)),
        (("backup",), ("required",)),
        (("backup", "verify"), ("id",)),
        (("token", "--scope", "ladder:root"), ("invalid choice",)),
        (("chaos", "everything"), ("unknown drill",)),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(shell, args, words):
    one_line_error(shell(*args), 2, "see ladder", *words)


def test_a_token_on_a_cognito_stage_says_where_tokens_come_from(shell):
    result = shell("token", "--scope", "ladder:write", LADDER_AUTH_MODE="jwks")
    one_line_error(result, 1, "token endpoint")


def test_ladder_debug_shows_the_traceback(shell):
    gone = f"postgresql://postgres@127.0.0.1:{free_port()}/ladder"
    result = shell("migrate", DATABASE_URL=gone, LADDER_DEBUG="1")
    assert result.returncode == 1
    assert "Traceback" in result.stderr


def test_without_a_database_configured_nothing_falls_back_to_a_default(shell):
    result = shell("migrate", DATABASE_URL="")
    one_line_error(result, 1, "no database configured", "LADDER_DEV_DIR")


def test_times_at_the_edge_of_the_calendar_are_usage_errors(shell):
    for edge in ("9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00"):
        one_line_error(shell("recalc", "--from", edge), 2, "out of range")


def test_a_settings_file_that_is_not_text(shell, tmp_path):
    (tmp_path / ".ladder").mkdir()
    (tmp_path / ".ladder" / "dev.env").write_bytes(b"DATABASE_URL=\xff\xfe\n")
    one_line_error(shell("queues"), 1, "cannot read the settings file")


def test_recalc_without_a_queue_says_nothing_will_run_it(shell, clean_state):
    result = shell("recalc")
    assert result.returncode == 1
    assert result.stdout.startswith("recalculation job ")  # the result: the job exists
    (line,) = result.stderr.strip().splitlines()
    assert "no worker will run it" in line


def test_recalc_of_an_unknown_ladder_is_one_line(shell, clean_state):
    one_line_error(shell("recalc", "--ladder", "nope", "--no-wait"), 1, "no ladder 'nope'")


def test_without_aws_credentials_says_where_they_come_from(shell):
    result = shell("backup", "list", AWS_ACCESS_KEY_ID="", AWS_SECRET_ACCESS_KEY="")
    one_line_error(result, 1, "no AWS credentials")


def test_restore_refuses_the_live_database_even_with_force(shell, settings, populated):
    backup_id = shell("backup", "create").stdout.strip()
    # The same database, named differently (another spelling of the host).
    other_spelling = settings.database_url.replace("127.0.0.1", "localhost")
    for target in (settings.database_url, other_spelling):
        refused = shell("backup", "restore", backup_id, "--target-url", target, "--force")
        one_line_error(refused, 1, "live database")


def test_ranks_rebuild_and_check_say_what_they_did_in_one_line(
    shell, populated, settings, resources
):
    prefix = {"LADDER_REDIS_PREFIX": settings.redis_prefix}
    checked = shell("ranks", "check", **prefix)
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout == "no live index: rebuilt\n"
    again = shell("ranks", "check", "--ladder", "default", **prefix)
    assert (again.returncode, again.stdout) == (0, "drift: 0\n")
    rebuilt = shell("ranks", "rebuild", **prefix)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert rebuilt.stdout.startswith("rebuilt: 5 players ranked in ")
    missing = shell("ranks", "rebuild", "--ladder", "nosuch", **prefix)
    one_line_error(missing, 1, "no ladder 'nosuch'", "GET /v1/ladders")
    down = {**prefix, "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"}
    one_line_error(shell("ranks", "check", **down), 1, "cannot reach Redis", "REDIS_URL")
    held = resources.index.lock_rebuild("default")  # another rebuild is running
    busy = shell("ranks", "rebuild", **prefix)
    resources.index.unlock_rebuild("default", held)
    one_line_error(busy, 1, "is running", "again")
    assert "Error" not in busy.stderr
