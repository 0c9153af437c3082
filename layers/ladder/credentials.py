"""Credentials that AWS hands out at run time, never stored in configuration.

- Postgres through RDS Proxy: IAM authentication. A token is generated for
  each new connection (tokens live 15 minutes and are checked only at
  connect), so every place that connects passes its URL through
  `database_conninfo`, which also adds TCP keepalives to every connection.
  Locally `db_iam_auth` is off and URLs keep their password.
- Redis (ElastiCache): the AUTH token. The Fargate task gets it injected as
  `LADDER_REDIS_PASSWORD`; Lambdas read the secret named by
  `LADDER_REDIS_PASSWORD_SECRET_ARN` through Powertools' parameters utility,
  which caches it, on first use rather than at import (a SnapStart snapshot
  must not carry it).
"""

from __future__ import annotations

from functools import lru_cache

from psycopg.conninfo import conninfo_to_dict, make_conninfo

from ladder.settings import Settings, get_settings

STRICT_SSLMODES = frozenset({"require", "verify-ca", "verify-full"})
SECRET_MAX_AGE = 300  # seconds a fetched Redis token is reused before it is read again


@lru_cache(maxsize=1)
def _rds_client(region: str):
    # Lazily: Lambda provides boto3 and the stream image installs it; local runs never
    # get here (no IAM authentication).
    import boto3

    return boto3.client("rds", region_name=region)


# Every connection notices a peer that vanished without closing (a failover, a NAT
# that forgot it, a half-open socket): TCP keepalives probe an idle one, and
# tcp_user_timeout bounds how long sent data may stay unacknowledged. Without
# them a query on a dead socket waits for the kernel's retransmission timeout
# (about 15 minutes) while the process looks healthy. A URL may set its own.
KEEPALIVES = {
    "keepalives": "1",
    "keepalives_idle": "30",
    "keepalives_interval": "10",
    "keepalives_count": "3",
    "tcp_user_timeout": "30000",  # milliseconds
}


def database_conninfo(url: str, settings: Settings | None = None) -> str:
    """`url` with keepalives, and a fresh IAM token as its password when IAM
    authentication is on."""
    settings = settings or get_settings()
    params = conninfo_to_dict(url)
    url = make_conninfo(url, **{k: v for k, v in KEEPALIVES.items() if k not in params})
    if not settings.db_iam_auth:
        return url
    token = _rds_client(settings.aws_region).generate_db_auth_token(
        DBHostname=params["host"],
        Port=int(params.get("port") or 5432),
        DBUsername=params["user"],
        Region=settings.aws_region,
    )
    # The proxy requires TLS; a URL that asks for stricter verification keeps it, one
    # that would allow plaintext (disable, allow, prefer) does not: a token is a password.
    sslmode = params.get("sslmode")
    if sslmode not in STRICT_SSLMODES:
        sslmode = "require"
    return make_conninfo(url, password=token, sslmode=sslmode)


def bootstrap_conninfo(settings: Settings) -> str:
    """The RDS master user's connection, read from its generated secret (host, port,
    username, password), to the database `DATABASE_URL` names: only to bootstrap roles.
    TLS is required except on loopback (tests), which cannot be RDS."""
    import json

    from aws_lambda_powertools.utilities import parameters

    secret = json.loads(parameters.get_secret(settings.db_bootstrap_secret_arn, max_age=0))
    host = secret["host"]
    return make_conninfo(
        host=host,
        port=str(secret.get("port") or 5432),
        user=secret["username"],
        password=secret.get("password") or None,
        dbname=conninfo_to_dict(settings.database_url).get("dbname") or "postgres",
        sslmode="prefer" if host in ("127.0.0.1", "localhost", "::1") else "require",
        connect_timeout="10",
        **KEEPALIVES,
    )


def redis_password(settings: Settings) -> str | None:
    """Redis' AUTH token, if the deployment has one."""
    if settings.redis_password is not None:
        return settings.redis_password.get_secret_value()
    if settings.redis_password_secret_arn:
        from aws_lambda_powertools.utilities import parameters

        return parameters.get_secret(settings.redis_password_secret_arn, max_age=SECRET_MAX_AGE)
    return None
