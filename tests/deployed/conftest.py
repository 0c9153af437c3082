"""Every ladder function run as the synthesized prod template configures it.

A stage's stand-ins, once per module: a fresh database on the local Postgres
(the deploy's migration bootstraps its roles), a password-protected
redis-server, moto (queues, bucket, KMS key, the Redis token and the master
user's secret) and a Cognito-like issuer with the two app clients. Each
function then runs in a fresh process with its template's environment
(tests/deployed/template_env.py), its memory size and timeout, while a
sampler counts the database connections it holds.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import boto3
import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from infra.config import CONNECTIONS_METADATA
from ladder.db.roles import ROLES
from ladder_dev.dev import FAKE_AWS_CREDENTIALS, create_aws_resources
from ladder_dev.local_services import RedisProcess
from tests.deployed.template_env import LocalEndpoints
from tests.issuer import LocalIssuer
from tests.synthesized import Synthesized

ROOT = Path(__file__).resolve().parents[2]
GAME_SERVER, OPERATOR = "parity-game-server", "parity-operator"
REDIS_TOKEN = "parity-redis-token"


@dataclass
class Invocation:
    responses: list
    peak_mib: float
    seconds: float
    peak_connections: int


@dataclass
class ConnectionSampler:
    """Counts the backends ladder's roles hold, every few milliseconds, in a thread."""

    server_url: str
    peak: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)

    def __enter__(self) -> ConnectionSampler:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        with psycopg.connect(self.server_url, autocommit=True) as conn:
            while not self._stop.is_set():
                (count,) = conn.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE usename = ANY(%s)", (list(ROLES),)
                ).fetchone()
                self.peak = max(self.peak, count)
                self._stop.wait(0.005)

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(5)


@dataclass
class Deployment:
    """The prod template and the local stand-ins of its endpoints."""

    template: Synthesized
    local: LocalEndpoints
    issuer: LocalIssuer
    database_url: str  # as the server's superuser, for assertions
    server_url: str
    redis: RedisProcess

    def function(self, handler: str) -> dict:
        functions = self.template.our_functions().values()
        (resource,) = [r for r in functions if r["Properties"]["Handler"] == handler]
        return resource

    def lambda_environment(self, handler: str) -> dict[str, str]:
        props = self.function(handler)["Properties"]
        return {
            **self.local.environment(props["Environment"]["Variables"]),
            # What the Lambda runtime sets itself.
            "AWS_LAMBDA_FUNCTION_NAME": handler.split(".")[1],
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(props["MemorySize"]),
            "PARITY_TIMEOUT_SECONDS": str(props["Timeout"]),
            **FAKE_AWS_CREDENTIALS,
            **process_basics(),
        }

    def invoke(self, handler: str, *events: dict) -> Invocation:
        """`events` through `handler` in one fresh environment, as the template configures it."""
        props = self.function(handler)["Properties"]
        work = Path(tempfile.mkdtemp(prefix="parity-"))
        (work / "events.json").write_text(json.dumps(list(events)))
        command = [sys.executable, "-m", "tests.deployed.invoke", handler]
        with ConnectionSampler(self.server_url) as sampler:
            result = subprocess.run(
                [*command, str(work / "events.json"), str(work / "result.json")],
                env=self.lambda_environment(handler),
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=props["Timeout"],
                check=False,
            )
        assert result.returncode == 0, f"{handler} failed:\n{result.stderr[-4000:]}"
        outcome = json.loads((work / "result.json").read_text())
        return Invocation(
            outcome["responses"], outcome["peak_mib"], outcome["seconds"], sampler.peak
        )

    def connections(self, resource: dict) -> int:
        declared = resource["Metadata"][CONNECTIONS_METADATA]
        return declared["proxy"] + declared["direct"]

    def check_limits(self, handler: str, invocation: Invocation) -> None:
        """The invocation stayed inside what the template gives and declares."""
        resource = self.function(handler)
        props = resource["Properties"]
        print(  # the figures, for `pytest -s`
            f"{handler}: peak {invocation.peak_mib:.0f} MiB of {props['MemorySize']}, "
            f"{invocation.seconds:.1f} s of {props['Timeout']}, "
            f"{invocation.peak_connections} of {self.connections(resource)} connections"
        )
        assert invocation.peak_mib < props["MemorySize"], (handler, invocation.peak_mib)
        assert invocation.seconds < props["Timeout"], (handler, invocation.seconds)
        assert invocation.peak_connections <= self.connections(resource), (
            handler,
            invocation.peak_connections,
        )

    def superuser(self) -> psycopg.Connection:
        from psycopg.rows import dict_row

        return psycopg.connect(self.database_url, autocommit=True, row_factory=dict_row)


def process_basics() -> dict[str, str]:
    """What any process needs that is not configuration: where Python and the code are."""
    return {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME") or tempfile.gettempdir(),
        "PYTHONPATH": str(ROOT),
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
    }


@pytest.fixture(scope="module")
def deployment(prod, aws, create_database, postgres_server_url) -> Deployment:
    os.environ.update(FAKE_AWS_CREDENTIALS)
    endpoint = aws["AWS_ENDPOINT_URL"]
    suffix = uuid.uuid4().hex[:8]
    queues = create_aws_resources(endpoint, queue=f"jobs-{suffix}", dlq=f"jobs-dlq-{suffix}")
    bucket = f"backups-{suffix}"
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=bucket)
    key = boto3.client("kms", endpoint_url=endpoint).create_key()["KeyMetadata"]["Arn"]
    secrets = boto3.client("secretsmanager", endpoint_url=endpoint)
    database_url = create_database("deployed")
    server = conninfo_to_dict(postgres_server_url)
    master = secrets.create_secret(
        Name=f"master-{suffix}",
        SecretString=json.dumps(
            {
                "username": server.get("user") or "postgres",
                "password": server.get("password") or "",
                "host": server.get("host") or "127.0.0.1",
                "port": int(server.get("port") or 5432),
            }
        ),
    )["ARN"]
    token = secrets.create_secret(Name=f"redis-{suffix}", SecretString=REDIS_TOKEN)["ARN"]
    redis = RedisProcess(password=REDIS_TOKEN).start()
    issuer = LocalIssuer()
    local = LocalEndpoints(
        postgres_url=postgres_server_url,
        database=conninfo_to_dict(database_url)["dbname"],
        redis_url=redis.url,
        aws_endpoint=endpoint,
        resources={
            **queues,
            "LADDER_BACKUP_BUCKET": bucket,
            "LADDER_BACKUP_KMS_KEY_ID": key,
            "LADDER_REDIS_PASSWORD_SECRET_ARN": token,
            "LADDER_REDIS_PASSWORD": REDIS_TOKEN,  # the task's, injected from the secret
            "LADDER_DB_BOOTSTRAP_SECRET_ARN": master,
            "LADDER_JWT_ISSUER": issuer.url,
            "LADDER_JWT_CLIENT_IDS": f"{GAME_SERVER},{OPERATOR}",
            "LADDER_JWT_ADMIN_CLIENT_IDS": OPERATOR,
            "LADDER_CORS_ORIGINS": "https://stream.example.test",
            "LADDER_PUBLIC_API_URL": "https://api.example.test/live/",
            "AWS_REGION": "us-east-1",
        },
    )
    yield Deployment(prod, local, issuer, database_url, postgres_server_url, redis)
    issuer.close()
    redis.stop()
