"""Fail closed: inside AWS a process refuses to start with development settings.

Every setting has a default that makes `make dev` work with nothing
configured: HS256 tokens signed with a public secret, a database and Redis on
loopback, passwords in URLs. One forgotten variable in a template must not
turn those on in AWS, so inside Lambda or ECS `get_settings` checks them and
raises at init: the function's INIT fails (SnapStart fails the publish, ECS
fails the task's health) instead of serving with development auth.

Tests that run a function exactly as its template configures it substitute
local endpoints, which these checks would refuse; they set
`LADDER_TEST_LOCAL_ENDPOINTS`, which relaxes only the endpoint checks (never
auth), and a template test proves no function or task sets it.
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit

from psycopg.conninfo import conninfo_to_dict

from ladder.settings import DEV_CLIENT_ID, DEV_JWT_SECRET, Settings

# Variables the Lambda runtime and the ECS agent set in every process they start.
AWS_RUNTIME_MARKERS = ("AWS_LAMBDA_FUNCTION_NAME", "ECS_CONTAINER_METADATA_URI_V4")
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", ""})


class UnsafeConfiguration(RuntimeError):
    """Development settings inside AWS."""


def running_in_aws() -> bool:
    return any(os.environ.get(marker) for marker in AWS_RUNTIME_MARKERS)


def _database_host(url: str) -> str:
    try:
        return conninfo_to_dict(url).get("host") or ""
    except Exception:  # an unparsable URL is as bad as a local one
        return ""


def development_settings(settings: Settings) -> list[str]:
    """What in `settings` is only fit for development (empty: fit for AWS)."""
    problems = []
    if settings.auth_mode != "jwks":
        secret = (
            " with the public development secret" if settings.jwt_secret == DEV_JWT_SECRET else ""
        )
        problems.append(f"HS256 tokens{secret} (set LADDER_AUTH_MODE=jwks and LADDER_JWT_ISSUER)")
    issuer = urlsplit(settings.jwt_issuer or "")
    local_issuer = settings.test_local_endpoints and issuer.hostname in LOOPBACK_HOSTS
    if settings.auth_mode == "jwks" and issuer.scheme != "https" and not local_issuer:
        problems.append("LADDER_JWT_ISSUER must be an https:// issuer (Cognito)")
    if not settings.client_ids or DEV_CLIENT_ID in settings.client_ids:
        problems.append("no allowed app clients (set LADDER_JWT_CLIENT_IDS to the Cognito clients)")
    if DEV_CLIENT_ID in settings.admin_client_ids:
        problems.append("the development client may act as admin (set LADDER_JWT_ADMIN_CLIENT_IDS)")
    if settings.test_local_endpoints:
        return problems
    for name, url in (
        ("DATABASE_URL", settings.database_url),
        ("RELAY_DATABASE_URL", settings.relay_database_url),
    ):
        if url is not None and _database_host(url) in LOOPBACK_HOSTS:
            problems.append(f"{name} names a local database")
    if not settings.db_iam_auth:
        problems.append("database passwords in configuration (set LADDER_DB_IAM_AUTH=true)")
    redis = urlsplit(settings.redis_url)
    if redis.hostname in LOOPBACK_HOSTS or redis.scheme != "rediss":
        problems.append("REDIS_URL must be a rediss:// (TLS) endpoint that is not local")
    if settings.aws_endpoint_url:
        problems.append("AWS_ENDPOINT_URL overrides AWS itself (a local stand-in)")
    return problems


def refuse_development_settings(settings: Settings) -> None:
    """Raise `UnsafeConfiguration` inside Lambda or ECS if `settings` are for development."""
    if not running_in_aws():
        return
    problems = development_settings(settings)
    if problems:
        raise UnsafeConfiguration(
            "refusing to start in AWS with development settings: " + "; ".join(problems)
        )
