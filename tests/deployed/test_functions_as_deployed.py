"""Each function's real path, in a fresh process, with the environment, memory size and
timeout its synthesized prod template gives it (local endpoints substituted), holding no
more database connections than the template declares for it."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import tempfile
import uuid
from datetime import UTC, datetime, timedelta

import boto3
import httpx
import pytest

from ladder_dev.local_services import free_port, wait_until
from ladder_dev.local_worker import sqs_event
from tests.deployed.conftest import GAME_SERVER, OPERATOR, ROOT, ConnectionSampler, process_basics
from tests.deployed.template_env import UnsubstitutedSetting
from tests.helpers import assert_ratings_equal_replay
from tests.lambda_events import rest_event

pytestmark = pytest.mark.slow

API, JOBS, MIGRATE = "functions.api.handler", "functions.jobs.handler", "functions.migrate.handler"
BACKUP, DRILL = "functions.backups.backup_handler", "functions.backups.drill_handler"
SWEEPER = "functions.sweeper.handler"
SCHEDULED = {"source": "aws.scheduler", "detail-type": "Scheduled Event", "detail": {}}
START = datetime(2026, 1, 1, tzinfo=UTC)


def body(response: dict):
    return json.loads(response["body"]) if response.get("body") else None


@pytest.fixture(scope="module")
def migrated(deployment):
    """The deploy's migration: bootstrap as the master user, then migrate as the owner."""
    invocation = deployment.invoke(MIGRATE, {"RequestType": "Create"})
    deployment.check_limits(MIGRATE, invocation)
    return invocation.responses[0]


def test_the_migration_bootstraps_roles_and_migrates_as_the_owner(deployment, migrated):
    assert migrated["applied"]  # a fresh database: every migration
    with deployment.superuser() as conn:
        owners = conn.execute(
            "SELECT DISTINCT pg_get_userbyid(relowner) AS owner FROM pg_class c"
            " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public'"
            " AND c.relkind = 'r'"
        ).fetchall()
        assert owners == [{"owner": "ladder_owner"}]
    again = deployment.invoke(MIGRATE, {"RequestType": "Update"})  # every deploy runs it
    assert again.responses[0]["applied"] == []


@pytest.fixture(scope="module")
def played(deployment, migrated):
    """Game servers and an operator through the API Lambda: 4 players, 12 matches in order,
    one late match, a void, a backup request, and tokens that must be refused."""
    game = {"Authorization": f"Bearer {deployment.issuer.token(GAME_SERVER, 'ladder/write')}"}
    # Even if Cognito granted it, admin from the game servers' client does not count.
    greedy = deployment.issuer.token(GAME_SERVER, "ladder/write ladder/admin")
    operator_token = deployment.issuer.token(OPERATOR, "ladder/write ladder/admin")
    operator = {"Authorization": f"Bearer {operator_token}"}

    def player(handle: str, headers: dict) -> dict:
        return rest_event(
            "POST", "/v1/players", body={"handle": handle, "display_name": "D"}, headers=headers
        )

    players = [player(f"dep_{i}", game) for i in range(4)]
    first = deployment.invoke(API, *players)
    deployment.check_limits(API, first)
    ids = [body(r)["id"] for r in first.responses]

    def match(a: int, b: int, at: datetime) -> dict:
        return rest_event(
            "POST",
            "/v1/matches",
            body={
                "player_a": ids[a],
                "player_b": ids[b],
                "score_a": 1.0,
                "played_at": at.isoformat(),
            },
            headers={**game, "Idempotency-Key": str(uuid.uuid4())},
        )

    in_order = [match(i % 4, (i + 1) % 4, START + timedelta(hours=i + 1)) for i in range(12)]
    late = match(0, 2, START)
    second = deployment.invoke(API, *in_order, late)
    deployment.check_limits(API, second)
    matches = [body(r) for r in second.responses]
    refused = {
        "greedy void": rest_event(
            "POST",
            f"/v1/matches/{matches[3]['id']}/void",
            headers={"Authorization": f"Bearer {greedy}"},
        ),
        "id token": player("ref_1", auth(deployment, GAME_SERVER, token_use="id")),
        "other client": player("ref_2", auth(deployment, "someone-else")),
        "empty sub": player("ref_3", auth(deployment, GAME_SERVER, sub="")),
        "long sub": player("ref_4", auth(deployment, GAME_SERVER, sub="s" * 3000)),
    }
    admin = [
        rest_event("POST", f"/v1/matches/{matches[5]['id']}/void", headers=operator),
        rest_event("POST", "/v1/admin/backups", headers=operator),
        rest_event("GET", "/v1/leaderboard"),
    ]
    third = deployment.invoke(API, *refused.values(), *admin)
    deployment.check_limits(API, third)
    statuses = dict(zip(refused, (r["statusCode"] for r in third.responses), strict=False))
    return {
        "first": first.responses,
        "matches": second.responses,
        "refused": statuses,
        "admin": third.responses[len(refused) :],
    }


def auth(deployment, client: str, **claims) -> dict:
    token = deployment.issuer.token(client, "ladder/write", **claims)
    return {"Authorization": f"Bearer {token}"}


def test_the_api_serves_game_servers_and_operators(played):
    assert [r["statusCode"] for r in played["first"]] == [201] * 4
    assert [r["statusCode"] for r in played["matches"]] == [201] * 13
    void, backup, leaderboard = played["admin"]
    assert void["statusCode"] == 202
    assert backup["statusCode"] == 202
    assert leaderboard["statusCode"] == 200
    assert len(body(leaderboard)["items"]) == 4


def test_the_api_refuses_what_cognito_would_not_authorize(played):
    assert played["refused"] == {
        "greedy void": 403,
        "id token": 401,
        "other client": 401,
        "empty sub": 401,
        "long sub": 401,
    }


@pytest.fixture(scope="module")
def worked(deployment, played):
    """Whatever the API queued, through the job worker as SQS delivers it."""
    sqs = boto3.client("sqs", endpoint_url=deployment.local.aws_endpoint)
    queue = deployment.local.resources["LADDER_JOBS_QUEUE_URL"]
    messages = sqs.receive_message(
        QueueUrl=queue, MaxNumberOfMessages=10, AttributeNames=["All"], WaitTimeSeconds=1
    )["Messages"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    invocation = deployment.invoke(JOBS, sqs_event(messages, arn, "us-east-1"))
    deployment.check_limits(JOBS, invocation)
    return messages, invocation.responses[0]


def test_the_worker_recalculates_indexes_and_backs_up_with_its_pool_of_one(deployment, worked):
    messages, response = worked
    assert {json.loads(m["Body"])["type"] for m in messages} == {
        "elo.recalculate",
        "backup.create",
        "rank.rebuild",  # asked for by the leaderboard read, which found no rank index
    }
    assert response == {"batchItemFailures": []}
    with deployment.superuser() as conn:
        statuses = conn.execute("SELECT type, status, error FROM jobs ORDER BY type").fetchall()
        assert all(s["status"] == "succeeded" for s in statuses), statuses
        assert_ratings_equal_replay(conn)  # the late match in order, the void gone


def test_the_nightly_backup_and_the_drill_run_as_scheduled(deployment, worked):
    backup = deployment.invoke(BACKUP, SCHEDULED)
    deployment.check_limits(BACKUP, backup)
    assert backup.responses[0]["backup_id"]
    drill = deployment.invoke(DRILL, SCHEDULED)
    deployment.check_limits(DRILL, drill)
    record = drill.responses[0]
    assert record["ok"], record
    assert record["backup_id"] == backup.responses[0]["backup_id"]


def test_the_sweeper_publishes_what_no_relay_did(deployment, played):
    swept = deployment.invoke(SWEEPER, SCHEDULED)
    deployment.check_limits(SWEEPER, swept)
    result = swept.responses[0]
    assert result["swept"] is True
    assert result["published"] > 0  # no stream service ran yet: every event was pending


def test_the_sweeper_queues_season_closes_that_the_worker_runs(deployment, worked):
    """A ladder whose seasons 0-4 are past their grace: the scheduled sweeper queues one
    `season.close`, and the worker (pool of one) freezes them, in order."""
    operator = {"Authorization": f"Bearer {deployment.issuer.token(OPERATOR, 'ladder/admin')}"}
    anchor = datetime.now(UTC) - timedelta(minutes=4, seconds=30)
    seasons = {"every": "PT1M", "anchor": anchor.isoformat(), "grace_seconds": 0}
    created = deployment.invoke(
        API,
        rest_event(
            "POST",
            "/v1/ladders",
            body={"slug": "dep-seasons", "name": "Seasons", "seasons": seasons},
            headers=operator,
        ),
    )
    assert created.responses[0]["statusCode"] == 201, created.responses[0]
    swept = deployment.invoke(SWEEPER, SCHEDULED)
    deployment.check_limits(SWEEPER, swept)
    assert swept.responses[0]["season_jobs"] == 1

    sqs = boto3.client("sqs", endpoint_url=deployment.local.aws_endpoint)
    queue = deployment.local.resources["LADDER_JOBS_QUEUE_URL"]
    messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=1)
    # Earlier tests of this module leave their own jobs' messages in the queue.
    (message,) = [
        m for m in messages["Messages"] if json.loads(m["Body"])["type"] == "season.close"
    ]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    invocation = deployment.invoke(JOBS, sqs_event([message], arn, "us-east-1"))
    deployment.check_limits(JOBS, invocation)
    assert invocation.responses[0] == {"batchItemFailures": []}
    with deployment.superuser() as conn:
        closed = [
            row["number"]
            for row in conn.execute(
                "SELECT number FROM seasons s JOIN ladders l ON l.id = s.ladder_id"
                " WHERE l.slug = 'dep-seasons' ORDER BY number"
            )
        ]
    assert closed[:5] == [0, 1, 2, 3, 4]  # a slow run may also close season 5
    assert closed == list(range(len(closed)))


def dockerfile_command() -> list[str]:
    """The image's CMD, which the task definition does not override."""
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    (command,) = re.findall(r"^CMD (\[.*\])$", text, flags=re.MULTILINE)
    return json.loads(command)


def test_the_stream_service_runs_with_its_task_definition(deployment, played):
    task = deployment.template.one("AWS::ECS::TaskDefinition")
    (container,) = [c for c in task["Properties"]["ContainerDefinitions"] if c["Name"] == "stream"]
    template_env = {e["Name"]: e["Value"] for e in container["Environment"]}
    template_env |= {s["Name"]: s["ValueFrom"] for s in container.get("Secrets", [])}
    command = dockerfile_command()
    assert command[0] == "uvicorn"
    port = free_port()
    command[command.index("--port") + 1] = str(port)
    command[command.index("--host") + 1] = "127.0.0.1"
    env = {
        **deployment.local.environment(template_env),
        "ECS_CONTAINER_METADATA_URI_V4": "http://169.254.170.2/v4/parity",  # as Fargate sets
        "LADDER_STREAM_METRICS_PORT": str(free_port()),  # the one port a test must move
        **process_basics(),
    }
    with ConnectionSampler(deployment.server_url) as sampler, tempfile.TemporaryFile("w+") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", *command], env=env, cwd=ROOT, stderr=log, stdout=log
        )
        try:
            url = f"http://127.0.0.1:{port}"
            wait_until(lambda: healthy(url), what="the stream service's /health")
            events = read_events(url, want=len(played["matches"]))
            peak_mib = resident_peak_mib(process.pid)
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(30)
            log.seek(0)
            output = log.read()
    # uvicorn shuts down gracefully, then re-raises the signal (ECS reads exit 143 as stopped).
    assert process.returncode in (0, -signal.SIGTERM), output[-3000:]
    assert "Application shutdown complete" in output
    recorded = [body(r)["id"] for r in played["matches"]]
    assert [json.loads(e["data"])["id"] for e in events] == recorded
    assert [int(e["id"]) for e in events] == sorted(int(e["id"]) for e in events)
    declared = task["Metadata"]["ladder:connections"]
    assert sampler.peak <= declared["proxy"] + declared["direct"]
    assert peak_mib < int(task["Properties"]["Memory"])


def resident_peak_mib(pid: int) -> float:
    for line in open(f"/proc/{pid}/status"):  # noqa: SIM115
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM")


def healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def read_events(url: str, want: int) -> list[dict]:
    """The first `want` match.recorded events of topic `matches`, from the start of history."""
    events, current = [], {}
    with httpx.stream(
        "GET",
        f"{url}/v1/stream",
        params={"topics": "matches"},
        headers={"Last-Event-ID": "0"},
        timeout=30,
    ) as response:
        assert response.status_code == 200
        for line in response.iter_lines():
            if not line:
                if current.get("event") == "match.recorded":
                    events.append(current)
                    if len(events) == want:
                        return events
                current = {}
            elif not line.startswith(":"):
                name, _, value = line.partition(": ")
                current[name] = value
    return events


def init(deployment, module: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """The runtime's INIT of `module` in a fresh process with exactly `env`."""
    return subprocess.run(
        [sys.executable, "-c", f"import {module}"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_without_auth_configuration_the_api_refuses_to_start(deployment):
    env = {
        k: v
        for k, v in deployment.lambda_environment(API).items()
        if not k.startswith(("LADDER_AUTH", "LADDER_JWT"))
    }
    started = init(deployment, "functions.api", env)
    assert started.returncode != 0
    assert "refusing to start in AWS with development settings" in started.stderr
    assert "HS256" in started.stderr


@pytest.mark.parametrize("handler", [API, JOBS, MIGRATE, BACKUP, DRILL, SWEEPER])
def test_local_endpoints_need_the_test_switch(deployment, handler):
    """The same environment without LADDER_TEST_LOCAL_ENDPOINTS: INIT refuses it."""
    env = deployment.lambda_environment(handler)
    module = handler.rsplit(".", 1)[0]
    assert init(deployment, module, env).returncode == 0
    del env["LADDER_TEST_LOCAL_ENDPOINTS"]
    started = init(deployment, module, env)
    assert started.returncode != 0
    assert "names a local database" in started.stderr


def test_a_deploy_time_setting_without_a_local_stand_in_fails_the_tests(deployment):
    template_env = deployment.function(API)["Properties"]["Environment"]["Variables"]
    gained = {**template_env, "LADDER_NEW_ENDPOINT": {"Fn::GetAtt": ["Something", "Endpoint"]}}
    with pytest.raises(UnsubstitutedSetting, match="LADDER_NEW_ENDPOINT"):
        deployment.local.environment(gained)
    plain = deployment.local.environment({**template_env, "LADDER_NEW_FLAG": "on"})
    assert plain["LADDER_NEW_FLAG"] == "on"  # a plain setting is applied as the template says


def test_every_local_stand_in_replaces_something_the_template_sets(deployment):
    template = deployment.template
    names = set()
    for function in template.our_functions().values():
        names |= set(function["Properties"]["Environment"]["Variables"])
    for container in template.one("AWS::ECS::TaskDefinition")["Properties"]["ContainerDefinitions"]:
        names |= {e["Name"] for e in container.get("Environment", [])}
        names |= {s["Name"] for s in container.get("Secrets", [])}
    assert set(deployment.local.resources) <= names
