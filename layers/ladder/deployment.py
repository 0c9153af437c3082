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

import ipaddress
import os
from urllib.parse import urlsplit

from psycopg.conninfo import conninfo_to_dict

from ladder.errors import UnsafeConfiguration
from ladder.settings import DEV_CLIENT_ID, DEV_JWT_SECRET, Settings

# Variables the Lambda runtime and the ECS agent set in every process they start.
AWS_RUNTIME_MARKERS = (
    "AWS_LAMBDA_FUNCTION_NAME",
    "ECS_CONTAINER_METADATA_URI_V4",
    "ECS_CONTAINER_METADATA_URI",
)
# Encryption modes libpq may fall back to plaintext with.
WEAK_SSLMODES = frozenset({"disable", "allow", "prefer"})


def running_in_aws() -> bool:
    return any(os.environ.get(marker) for marker in AWS_RUNTIME_MARKERS)


def is_local_host(host: str | None) -> bool:
    """Whether `host` (a name or address) is this machine: loopback in any spelling, the
    unspecified address, or nothing at all (libpq then uses a Unix socket)."""
    name = (host or "").strip().lower().rstrip(".")
    if not name or name.startswith(("/", "@")):  # a Unix socket directory or abstract one
        return True
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified


def _database_is_local(params: dict) -> bool:
    """Any host or address libpq could reach at is local (several hosts: any of them;
    `hostaddr` and the PGHOST/PGHOSTADDR variables count as libpq reads them)."""
    hosts = (params.get("host") or os.environ.get("PGHOST") or "").split(",")
    addresses = (params.get("hostaddr") or os.environ.get("PGHOSTADDR") or "").split(",")
    if any(a.strip() for a in addresses):
        return any(is_local_host(a) for a in addresses if a.strip())
    return any(is_local_host(h) for h in hosts)


def _aws_endpoint_overrides() -> list[str]:
    """AWS_ENDPOINT_URL and the per-service AWS_ENDPOINT_URL_<SERVICE> botocore follows."""
    return sorted(name for name in os.environ if name.startswith("AWS_ENDPOINT_URL"))


def development_settings(settings: Settings) -> list[str]:
    """What in `settings` is only fit for development (empty: fit for AWS)."""
    problems = []
    if settings.auth_mode != "jwks":
        secret = (
            " with the public development secret" if settings.jwt_secret == DEV_JWT_SECRET else ""
        )
        problems.append(f"HS256 tokens{secret} (set LADDER_AUTH_MODE=jwks and LADDER_JWT_ISSUER)")
    issuer = urlsplit(settings.jwt_issuer or "")
    local_issuer = settings.test_local_endpoints and is_local_host(issuer.hostname)
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
        if url is None:
            continue
        try:
            params = conninfo_to_dict(url)
        except Exception:
            problems.append(f"{name} is not a connection URL")
            continue
        if _database_is_local(params):
            problems.append(f"{name} names a local database")
        if params.get("sslmode") in WEAK_SSLMODES:
            problems.append(f"{name} allows an unencrypted connection (sslmode)")
    if not settings.db_iam_auth:
        problems.append("database passwords in configuration (set LADDER_DB_IAM_AUTH=true)")
    redis = urlsplit(settings.redis_url)
    if is_local_host(redis.hostname) or redis.scheme != "rediss":
        problems.append("REDIS_URL must be a rediss:// (TLS) endpoint that is not local")
    if overrides := _aws_endpoint_overrides():
        problems.append(f"{', '.join(overrides)} override AWS itself (a local stand-in)")
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
