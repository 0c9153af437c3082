"""How the operator CLI reports a failure: one line on stderr that says what to do.

Every exception a command can meet is translated here; anything unforeseen
still becomes one line (its type and message), and `LADDER_DEBUG=1` shows
the traceback instead.
"""

from __future__ import annotations


class CliError(Exception):
    """A failure the CLI explains in its own words."""


def _first_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:300] or type(exc).__name__


def explain(exc: BaseException) -> str:
    """`exc` as one line naming what went wrong and what to do about it."""
    import psycopg

    from ladder.aws import AwsUnavailable
    from ladder.db import DatabaseUnavailable
    from ladder.db.errors import MigrationError
    from ladder.errors import LadderError

    if isinstance(exc, CliError | MigrationError):
        return _first_line(exc)
    if isinstance(exc, AwsUnavailable) and exc.__cause__ is not None:
        exc = exc.__cause__  # the operator is told what AWS said, and what to do
    elif isinstance(exc, LadderError):
        return exc.detail
    if isinstance(exc, DatabaseUnavailable | psycopg.OperationalError):
        return (
            f"cannot reach the database ({_first_line(exc)}): start the local stack "
            "(make dev), or check the URL (DATABASE_URL, or a restore's --target-url)"
        )
    if isinstance(exc, UnicodeDecodeError):  # a settings file that is not text
        return f"cannot read the settings file: {_first_line(exc)}"
    if isinstance(exc, psycopg.Error):
        return f"the database refused: {_first_line(exc)}"
    redis = _explain_redis(exc)
    if redis:
        return redis
    aws = _explain_aws(exc)
    if aws:
        return aws
    return f"{type(exc).__name__}: {_first_line(exc)} (LADDER_DEBUG=1 shows the traceback)"


def _explain_redis(exc: BaseException) -> str | None:
    import redis

    from ladder.jobs.errors import JobDeferred

    if isinstance(exc, JobDeferred):  # busy or unreachable now: worth another try later
        return f"{_first_line(exc)}: run it again in a little while"
    if isinstance(exc, redis.ConnectionError | redis.TimeoutError):
        return (
            f"cannot reach Redis ({_first_line(exc)}): start the local stack (make dev), or "
            "check REDIS_URL"
        )
    if isinstance(exc, redis.RedisError):
        return f"Redis refused: {_first_line(exc)}"
    return None


def _explain_aws(exc: BaseException) -> str | None:
    try:
        from botocore.exceptions import (
            BotoCoreError,
            ClientError,
            EndpointConnectionError,
            NoCredentialsError,
        )
    except ImportError:  # pragma: no cover - boto3 is installed wherever AWS is used
        return None
    if isinstance(exc, NoCredentialsError):
        return (
            "no AWS credentials: set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY "
            "(the local stack's dev.env provides local ones)"
        )
    if isinstance(exc, EndpointConnectionError):
        return (
            f"cannot reach AWS ({_first_line(exc)}): start the local stack (make dev) or set "
            "AWS_ENDPOINT_URL / your AWS credentials"
        )
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"AWS refused: {error.get('Code', 'error')}: {error.get('Message', '')}".strip()
    if isinstance(exc, BotoCoreError):
        return f"AWS: {_first_line(exc)}"
    return None
