"""Run-time credentials: IAM tokens for Postgres behind RDS Proxy, the Redis AUTH token."""

import shutil
import time

import boto3
import pytest
from psycopg.conninfo import conninfo_to_dict

from ladder.cache import Cache
from ladder.credentials import KEEPALIVES, database_conninfo, redis_password
from ladder.redis_clients import redis_client
from ladder.settings import Settings
from ladder_dev.local_services import RedisProcess

PROXY_URL = "postgresql://ladder_admin@ladder.proxy-abc.eu-west-1.rds.amazonaws.com:5532/ladder"


def test_without_iam_auth_the_url_only_gains_keepalives():
    params = conninfo_to_dict(database_conninfo(PROXY_URL, Settings(db_iam_auth=False)))
    assert params == {**conninfo_to_dict(PROXY_URL), **KEEPALIVES}


def test_a_url_keeps_its_own_keepalive_settings():
    url = f"{PROXY_URL}?keepalives_idle=5"
    assert conninfo_to_dict(database_conninfo(url, Settings()))["keepalives_idle"] == "5"


def test_iam_auth_signs_a_token_for_the_proxy_user_and_requires_tls(aws):
    params = conninfo_to_dict(
        database_conninfo(PROXY_URL, Settings(db_iam_auth=True, AWS_REGION="eu-west-1"))
    )
    token = params["password"]
    assert token.startswith("ladder.proxy-abc.eu-west-1.rds.amazonaws.com:5532/?")
    for part in ("Action=connect", "DBUser=ladder_admin", "X-Amz-Signature=", "eu-west-1%2Frds-db"):
        assert part in token
    assert params["sslmode"] == "require"
    assert (params["user"], params["port"], params["dbname"]) == ("ladder_admin", "5532", "ladder")


def test_a_stricter_tls_mode_in_the_url_is_kept(aws):
    url = f"{PROXY_URL}?sslmode=verify-full"
    params = conninfo_to_dict(database_conninfo(url, Settings(db_iam_auth=True)))
    assert params["sslmode"] == "verify-full"


def test_the_redis_token_comes_from_secrets_manager(aws, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", aws["AWS_ENDPOINT_URL"])
    secrets = boto3.client("secretsmanager", endpoint_url=aws["AWS_ENDPOINT_URL"])
    arn = secrets.create_secret(Name=f"redis-token-{time.time_ns()}", SecretString="s3cr3t")["ARN"]
    assert redis_password(Settings(redis_password_secret_arn=arn)) == "s3cr3t"
    assert redis_password(Settings(redis_password="injected")) == "injected"
    assert redis_password(Settings()) is None


@pytest.fixture
def redis_with_auth():
    if shutil.which("redis-server") is None:
        pytest.skip("needs redis-server for AUTH")
    server = RedisProcess(password="tok3n").start()
    yield server.url
    server.stop()


def test_the_cache_authenticates_with_the_token(redis_with_auth):
    settings = Settings(REDIS_URL=redis_with_auth, redis_password="tok3n")
    cache = Cache(lambda: redis_client(settings, timeout=0.25))
    cache.set_json("k", {"v": 1}, ttl=60)
    assert cache.get_json("k") == {"v": 1}
    cache.close()


def test_a_wrong_token_fails_open_instead_of_failing_requests(redis_with_auth):
    settings = Settings(REDIS_URL=redis_with_auth, redis_password="wrong")
    cache = Cache(lambda: redis_client(settings, timeout=0.25))
    cache.set_json("k", {"v": 1}, ttl=60)  # no exception: the cache is bypassed
    assert cache.get_json("k") is None
    cache.close()


@pytest.mark.parametrize("weak", ["disable", "allow", "prefer"])
def test_iam_auth_never_lets_the_token_travel_unencrypted(aws, weak):
    url = f"{PROXY_URL}?sslmode={weak}"
    params = conninfo_to_dict(database_conninfo(url, Settings(db_iam_auth=True)))
    assert params["sslmode"] == "require"
