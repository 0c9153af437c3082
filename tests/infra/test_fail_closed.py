"""No template turns on the test-only switch or points a function at a local endpoint."""

import re

LOOPBACK = re.compile(r"(127\.0\.0\.1|localhost|\[::1\])")


def environments(stage) -> dict[str, dict]:
    """ladder's processes: its functions and the stream container (the metrics sidecar
    scrapes the app over loopback by design)."""
    found = {
        key: r["Properties"]["Environment"]["Variables"] for key, r in stage.our_functions().items()
    }
    for key, task in stage.resources("AWS::ECS::TaskDefinition").items():
        for container in task["Properties"]["ContainerDefinitions"]:
            if container["Name"] == "stream":
                found[f"{key}/stream"] = {e["Name"]: e["Value"] for e in container["Environment"]}
    return found


def test_no_function_or_task_sets_the_test_switch_or_a_local_endpoint(stage):
    envs = environments(stage)
    assert len(envs) == 7
    for where, env in envs.items():
        assert "LADDER_TEST_LOCAL_ENDPOINTS" not in env, where
        assert "AWS_ENDPOINT_URL" not in env, where
        for name, value in env.items():
            assert not LOOPBACK.search(stage.text(value)), (where, name)


def test_every_ladder_function_and_the_stream_task_verify_cognito_tokens(stage):
    for where, env in environments(stage).items():
        assert env["LADDER_AUTH_MODE"] == "jwks", where
        assert env["LADDER_DB_IAM_AUTH"] == "true", where
        for name in ("LADDER_JWT_ISSUER", "LADDER_JWT_CLIENT_IDS", "LADDER_JWT_ADMIN_CLIENT_IDS"):
            assert name in env, (where, name)
