"""Every setting ladder reads, in one typed place.

Values come from the environment (Lambda configuration, `make dev`, CI). The
CLI additionally reads `.ladder/dev.env`, written by `make dev`, for variables
that are not set, so CLI commands act on the running local stack.

The README's settings table is generated from this class
(`python -m ladder_dev.gen_docs`, checked by a test), so the two cannot drift.
Inside Lambda or ECS, `get_settings` refuses development settings
(`ladder.deployment`).
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

# `make dev`'s state directory (LADDER_DEV_DIR moves it); the CLI reads its dev.env.
DEV_DIR_VARIABLE = "LADDER_DEV_DIR"

# Local-only signing secret for HS256 tokens. It is public by design: AWS
# stages verify Cognito tokens against the issuer's JWKS instead.
DEV_JWT_SECRET = "ladder-local-development-secret-not-for-production"  # noqa: S105
# The app client id local tokens carry; never an allowed client in AWS.
DEV_CLIENT_ID = "ladder-local"


def dev_env_file() -> Path:
    """`.ladder/dev.env`, or under `LADDER_DEV_DIR` when that is set."""
    return Path(os.environ.get(DEV_DIR_VARIABLE) or ".ladder") / "dev.env"


class Settings(BaseSettings):
    """ladder's configuration. Field docs become the README's settings table."""

    model_config = SettingsConfigDict(env_prefix="LADDER_", extra="ignore")

    database_url: str = Field(
        "postgresql://postgres@127.0.0.1:5432/postgres",
        validation_alias=AliasChoices("DATABASE_URL", "LADDER_DATABASE_URL"),
        description="PostgreSQL connection URL (libpq form).",
    )
    db_iam_auth: bool = Field(
        False,
        description="Connect with IAM tokens (RDS Proxy in AWS) instead of a password in the URL.",
    )
    db_bootstrap_secret_arn: str | None = Field(
        None,
        description="Secrets Manager secret of the RDS master user: the deploy's migration "
        "uses it only to create ladder's roles (`ladder.db.roles`).",
    )
    db_pool_size: int = Field(
        4, ge=1, description="Connections per process; Lambda environments use 1."
    )
    db_connect_timeout: float = Field(
        5.0, gt=0, description="Seconds to wait for a database connection before a 503."
    )
    redis_url: str = Field(
        "redis://127.0.0.1:6379/0",
        validation_alias=AliasChoices("REDIS_URL", "LADDER_REDIS_URL"),
        description="Redis URL (`rediss://` for TLS).",
    )
    redis_password: SecretStr | None = Field(
        None, description="Redis AUTH token (the Fargate task gets it from Secrets Manager)."
    )
    redis_password_secret_arn: str | None = Field(
        None, description="Secrets Manager secret holding the Redis AUTH token (Lambdas)."
    )
    redis_prefix: str = Field(
        "ladder:", description="Prefix of every Redis key, so stages can share a server."
    )
    redis_timeout: float = Field(
        0.25, gt=0, description="Seconds a Redis call may take before the cache is bypassed."
    )
    redis_retry_after: float = Field(
        5.0, ge=0, description="Seconds the cache stays bypassed after a Redis failure."
    )
    leaderboard_cache_ttl: int = Field(
        60, ge=1, description="Seconds a cached leaderboard page lives (bounds staleness)."
    )
    rank_reconcile_seconds: int = Field(
        300,
        ge=60,
        description="Seconds between two comparisons of a ladder's rank index with Postgres"
        " (by the sweeper; each reads the whole board from both).",
    )
    relay_database_url: str | None = Field(
        None,
        validation_alias=AliasChoices("RELAY_DATABASE_URL", "LADDER_RELAY_DATABASE_URL"),
        description="Direct (not proxied) database URL for the relay, which holds an advisory "
        "lock and LISTENs; default: `DATABASE_URL`.",
    )
    stream_key: str = Field("events", description="Redis stream (under the prefix) of events.")
    stream_max_len: int = Field(
        100_000, ge=100, description="Events kept in the Redis stream (older ones: Postgres)."
    )
    relay_batch_size: int = Field(500, ge=1, description="Outbox rows the relay publishes at once.")
    relay_poll_interval: float = Field(
        1.0, gt=0, description="Seconds between outbox polls when no NOTIFY arrives."
    )
    stream_heartbeat: float = Field(15.0, gt=0, description="Seconds between SSE heartbeats.")
    stream_queue_size: int = Field(
        1000, ge=1, description="Events buffered per SSE client before it is dropped."
    )
    stream_send_timeout: float = Field(
        10.0, gt=0, description="Seconds a write to an SSE client may block before it is dropped."
    )
    stream_replay_send_timeout: float = Field(
        2.0,
        gt=0,
        description="Seconds a write of history to a resuming client may block before it is "
        "dropped (it resumes later from its last id).",
    )
    stream_replay_budget: float = Field(
        30.0,
        gt=0,
        description="Seconds one replay of history may hold its slot; a client reading slower "
        "is ended there and resumes from its last id.",
    )
    stream_replay_concurrency: int = Field(
        32, ge=1, description="Clients of one process reading and receiving history at once."
    )
    stream_max_clients: int = Field(
        4000, ge=1, description="SSE clients one process serves; beyond, a 503 with Retry-After."
    )
    stream_metrics_port: int = Field(
        9464, ge=0, description="Prometheus port of the stream service, bound to localhost."
    )
    public_api_url: str = Field(
        "http://127.0.0.1:8000", description="The API's public URL, for the leaderboard page."
    )
    jobs_queue_url: str | None = Field(
        None, description="SQS queue of background jobs; unset: jobs are recorded, not sent."
    )
    jobs_dlq_url: str | None = Field(None, description="The jobs queue's dead-letter queue.")
    backup_bucket: str = Field("ladder-backups", description="S3 bucket of backups and drills.")
    backup_kms_key_id: str | None = Field(
        None, description="KMS key for SSE-KMS on backup objects; unset: the bucket's default."
    )
    backup_compression_level: int = Field(
        1, ge=1, le=9, description="gzip level of backup objects (1: fastest, about 30% larger)."
    )
    backup_keep_daily: int = Field(7, ge=1, description="Daily backups retention keeps.")
    backup_keep_weekly: int = Field(5, ge=0, description="Weekly backups retention keeps.")
    anonymize_salt: str | None = Field(
        None, description="Secret salt of anonymized exports' hashes (required to export)."
    )
    request_metrics: bool = Field(
        False, description="Emit latency and errors per route as EMF (on in the API Lambda)."
    )
    cors_origins: str = Field(
        "*", description="Comma-separated origins allowed to read the API from a browser."
    )
    aws_endpoint_url: str | None = Field(
        None,
        validation_alias=AliasChoices("AWS_ENDPOINT_URL", "LADDER_AWS_ENDPOINT_URL"),
        description="AWS endpoint override (the local moto server); unset in AWS.",
    )
    aws_region: str = Field(
        "us-east-1",
        validation_alias=AliasChoices("AWS_REGION", "AWS_DEFAULT_REGION", "LADDER_AWS_REGION"),
        description="AWS region.",
    )
    auth_mode: Literal["hs256", "jwks"] = Field(
        "hs256",
        description="`hs256`: tokens signed with `LADDER_JWT_SECRET` (local); "
        "`jwks`: RS256 tokens from `LADDER_JWT_ISSUER` (Cognito).",
    )
    jwt_secret: str = Field(DEV_JWT_SECRET, description="HS256 signing secret (local only).")
    jwt_issuer: str | None = Field(
        None, description="Expected `iss`; its JWKS is `<issuer>/.well-known/jwks.json`."
    )
    jwt_client_ids: str = Field(
        DEV_CLIENT_ID,
        description="Comma-separated app clients whose access tokens are accepted "
        "(their `client_id`).",
    )
    jwt_admin_client_ids: str = Field(
        DEV_CLIENT_ID,
        description="Comma-separated app clients whose tokens may carry `ladder:admin` "
        "(operators); from any other client that scope is ignored.",
    )
    # The rating parameters of new ladders; a deploy that changes them makes them the
    # ladder `default`'s (ladder.ratings.rules). A ladder's own rules live in its row.
    rating_initial: float = Field(
        1500.0, description="Rating of a new player (in a new ladder; see ladders)."
    )
    rating_provisional_games: int = Field(
        30, ge=0, description="Games below which a player's K is the provisional K."
    )
    rating_k_provisional: float = Field(40.0, gt=0, description="K while games < provisional.")
    rating_k_established: float = Field(20.0, gt=0, description="K below the master rating.")
    rating_master_threshold: float = Field(2400.0, description="Rating from which K is master K.")
    rating_k_master: float = Field(10.0, gt=0, description="K at or above the master rating.")
    idempotency_retention_hours: int = Field(
        24, ge=1, description="Hours a write's response is kept for retries with its key."
    )
    max_future_skew: int = Field(
        300, ge=0, description="Seconds a match's `played_at` may lie in the future."
    )
    test_local_endpoints: bool = Field(
        False,
        description="Test only: lets a process configured as in AWS reach local endpoints "
        "(loopback database, Redis, issuer and AWS endpoint; IAM auth off). No template sets it.",
    )

    @staticmethod
    def split(value: str) -> frozenset[str]:
        return frozenset(part.strip() for part in value.split(",") if part.strip())

    @property
    def client_ids(self) -> frozenset[str]:
        return self.split(self.jwt_client_ids)

    @property
    def admin_client_ids(self) -> frozenset[str]:
        return self.split(self.jwt_admin_client_ids)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once (Lambda environments reuse them).

    Inside Lambda or ECS this refuses development settings, so every entry
    point fails at init instead of serving with them.
    """
    from ladder.deployment import refuse_development_settings

    settings = Settings()
    refuse_development_settings(settings)
    return settings
