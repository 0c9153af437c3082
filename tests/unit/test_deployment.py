"""Fail closed: inside Lambda or ECS, development settings refuse to start."""

import os
from unittest import mock

import pytest

from ladder.deployment import development_settings, refuse_development_settings
from ladder.errors import UnsafeConfiguration
from ladder.settings import Settings, get_settings

# What a deployed function's template gives it (endpoints of the shape AWS has).
DEPLOYED = {
    "DATABASE_URL": "postgresql://ladder_app@proxy.example.rds.amazonaws.com:5432/ladder",
    "RELAY_DATABASE_URL": "postgresql://ladder_relay@db.example.rds.amazonaws.com:5532/ladder",
    "REDIS_URL": "rediss://master.example.cache.amazonaws.com:6380/0",
    "LADDER_DB_IAM_AUTH": "true",
    "LADDER_AUTH_MODE": "jwks",
    "LADDER_JWT_ISSUER": "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_abc",
    "LADDER_JWT_CLIENT_IDS": "game,ops",
    "LADDER_JWT_ADMIN_CLIENT_IDS": "ops",
}


def problems_with(env: dict[str, str]) -> list[str]:
    """What a process with exactly `env` would be refused for (it reads libpq's and
    botocore's own variables too)."""
    with mock.patch.dict(os.environ, env, clear=True):
        return development_settings(Settings())


@pytest.fixture
def in_lambda(monkeypatch):
    for name in ("AWS_ENDPOINT_URL", "DATABASE_URL", "REDIS_URL", "LADDER_TEST_LOCAL_ENDPOINTS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "ladder-api")
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()


def test_deployed_settings_are_accepted():
    assert problems_with(DEPLOYED) == []


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"LADDER_AUTH_MODE": "hs256"}, "HS256 tokens with the public development secret"),
        ({"LADDER_JWT_ISSUER": "http://cognito.example"}, "https:// issuer"),
        ({"LADDER_JWT_CLIENT_IDS": ""}, "no allowed app clients"),
        ({"LADDER_JWT_CLIENT_IDS": "ladder-local,game"}, "no allowed app clients"),
        ({"LADDER_JWT_ADMIN_CLIENT_IDS": "ladder-local"}, "development client may act as admin"),
        ({"DATABASE_URL": "postgresql://postgres@127.0.0.1:5432/postgres"}, "local database"),
        ({"RELAY_DATABASE_URL": "postgresql://x@localhost/ladder"}, "RELAY_DATABASE_URL"),
        ({"LADDER_DB_IAM_AUTH": "false"}, "LADDER_DB_IAM_AUTH"),
        ({"REDIS_URL": "redis://master.example.cache.amazonaws.com:6380/0"}, "rediss://"),
        ({"REDIS_URL": "rediss://127.0.0.1:6379/0"}, "rediss://"),
        ({"AWS_ENDPOINT_URL": "http://127.0.0.1:5000"}, "AWS_ENDPOINT_URL"),
        # Every other way libpq, redis or botocore could reach this machine.
        ({"DATABASE_URL": "postgresql://u@proxy.example.com/db?hostaddr=127.0.0.1"}, "local"),
        ({"PGHOSTADDR": "127.0.0.1"}, "local database"),
        ({"DATABASE_URL": "postgresql://u@%2Fvar%2Frun%2Fpostgresql/db"}, "local database"),
        ({"DATABASE_URL": "host=/var/run/postgresql dbname=ladder user=u"}, "local database"),
        ({"DATABASE_URL": "postgresql://u@proxy.example.com,127.0.0.1/db"}, "local database"),
        ({"DATABASE_URL": "postgresql://u@LOCALHOST/db"}, "local database"),
        ({"DATABASE_URL": "postgresql://u@localhost./db"}, "local database"),
        ({"DATABASE_URL": "postgresql://u@127.0.0.2/db"}, "local database"),
        ({"DATABASE_URL": "postgresql://u@0.0.0.0/db"}, "local database"),
        ({"DATABASE_URL": "postgresql://u@[::1]/db"}, "local database"),
        ({"DATABASE_URL": "postgresql://u@proxy.example.com/db?sslmode=disable"}, "sslmode"),
        ({"DATABASE_URL": "not a url = ="}, "not a connection URL"),
        ({"REDIS_URL": "rediss://127.0.0.2:6380/0"}, "rediss://"),
        ({"REDIS_URL": "rediss://localhost.:6380/0"}, "rediss://"),
        ({"AWS_ENDPOINT_URL_SQS": "http://127.0.0.1:5000"}, "AWS_ENDPOINT_URL_SQS"),
        ({"AWS_ENDPOINT_URL_SECRETS_MANAGER": "http://x"}, "AWS_ENDPOINT_URL_SECRETS_MANAGER"),
    ],
)
def test_each_development_setting_is_named(change, problem):
    problems = problems_with({**DEPLOYED, **change})
    assert any(problem in p for p in problems), problems


def test_the_test_switch_relaxes_endpoints_but_never_auth():
    local = {
        **DEPLOYED,
        "DATABASE_URL": "postgresql://ladder_app@127.0.0.1:5432/x",
        "REDIS_URL": "redis://127.0.0.1:6379/0",
        "LADDER_DB_IAM_AUTH": "false",
        "LADDER_JWT_ISSUER": "http://127.0.0.1:9999",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:5000",
        "LADDER_TEST_LOCAL_ENDPOINTS": "true",
    }
    assert problems_with(local) == []
    problems = problems_with({**local, "LADDER_AUTH_MODE": "hs256"})
    assert problems
    remote_issuer = {**local, "LADDER_JWT_ISSUER": "http://evil.example"}
    assert problems_with(remote_issuer)


def test_inside_lambda_defaults_refuse_to_start(in_lambda):
    with pytest.raises(UnsafeConfiguration, match="refusing to start in AWS") as refused:
        get_settings()
    message = str(refused.value)
    for named in ("HS256", "LADDER_JWT_CLIENT_IDS", "local database", "LADDER_DB_IAM_AUTH"):
        assert named in message


@pytest.mark.parametrize("marker", ["ECS_CONTAINER_METADATA_URI_V4", "ECS_CONTAINER_METADATA_URI"])
def test_inside_ecs_too(in_lambda, marker):
    in_lambda.delenv("AWS_LAMBDA_FUNCTION_NAME")
    in_lambda.setenv(marker, "http://169.254.170.2/v4/x")
    with pytest.raises(UnsafeConfiguration):
        get_settings()


def test_outside_aws_development_settings_are_fine(monkeypatch):
    for name in ("AWS_LAMBDA_FUNCTION_NAME", "ECS_CONTAINER_METADATA_URI_V4"):
        monkeypatch.delenv(name, raising=False)
    refuse_development_settings(Settings())
