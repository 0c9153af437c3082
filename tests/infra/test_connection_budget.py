"""Every stage's database connections fit its instance, read from the synthesized template.

Demand is what everything that connects may hold at once: each function's concurrency
bound (reserved concurrency; the worker's mapping too) × the connections one environment
declares (`ladder:connections`, which tests/deployed measures), the stream tasks at their
autoscaling maximum during a deployment × theirs, and the master secret's rotation. RDS
Proxy opens at most its `MaxConnectionsPercent` of `max_connections`; that and the direct
connections must leave the reserve free.
"""

from __future__ import annotations

import copy
import dataclasses
import math

import pytest

from infra.config import CONNECTIONS_METADATA, DB_RESERVED_CONNECTIONS
from ladder.settings import Settings


@pytest.fixture(params=["prod", "staging", "preview"])
def each_stage(request):
    return request.getfixturevalue(request.param)


def budget(stage) -> dict:
    (parameters,) = stage.resources("AWS::RDS::DBParameterGroup").values()
    max_connections = int(parameters["Properties"]["Parameters"]["max_connections"])
    pool = stage.props("AWS::RDS::DBProxyTargetGroup")["ConnectionPoolConfigurationInfo"]
    demand = {"proxy": 0, "direct": 0}
    lines = []
    for key, function in stage.our_functions().items():
        props = function["Properties"]
        concurrency = props.get("ReservedConcurrentExecutions")
        assert concurrency, f"{key} has no concurrency bound: its connections are unbounded"
        declared = function["Metadata"][CONNECTIONS_METADATA]
        pool_size = int(props["Environment"]["Variables"]["LADDER_DB_POOL_SIZE"])
        assert declared["proxy"] >= pool_size, key  # its pool is part of what it declares
        for path in ("proxy", "direct"):
            demand[path] += concurrency * declared[path]
        lines.append((key, concurrency, declared))
    for mapping in stage.resources("AWS::Lambda::EventSourceMapping").values():
        worker = stage.template["Resources"][mapping["Properties"]["FunctionName"]["Ref"]]
        maximum = mapping["Properties"]["ScalingConfig"]["MaximumConcurrency"]
        assert maximum <= worker["Properties"]["ReservedConcurrentExecutions"]
    task = stage.one("AWS::ECS::TaskDefinition")
    declared = task["Metadata"][CONNECTIONS_METADATA]
    (stream,) = [c for c in task["Properties"]["ContainerDefinitions"] if c["Name"] == "stream"]
    env = {e["Name"]: e["Value"] for e in stream["Environment"]}
    assert declared["proxy"] >= int(env["LADDER_DB_POOL_SIZE"])
    service = stage.props("AWS::ECS::Service")
    deploying = service["DeploymentConfiguration"]["MaximumPercent"] / 100
    tasks = math.ceil(
        stage.props("AWS::ApplicationAutoScaling::ScalableTarget")["MaxCapacity"] * deploying
    )
    for path in ("proxy", "direct"):
        demand[path] += tasks * declared[path]
    lines.append(("stream tasks", tasks, declared))
    rotations = len(stage.resources("AWS::Serverless::Application"))
    demand["direct"] += rotations  # the master secret's rotation: one connection, rarely
    return {
        "max_connections": max_connections,
        "proxy_cap": max_connections * pool["MaxConnectionsPercent"] // 100,
        "borrow_timeout": pool["ConnectionBorrowTimeout"],
        "demand": demand,
        "lines": lines,
    }


def fits(b: dict) -> bool:
    # Through the proxy: everything its clients may hold, without waiting to borrow;
    # on the instance: the proxy's share, the direct connections and the reserve.
    return (
        b["demand"]["proxy"] <= b["proxy_cap"]
        and b["proxy_cap"] + b["demand"]["direct"] <= b["max_connections"] - DB_RESERVED_CONNECTIONS
    )


def test_connections_fit_the_instance(each_stage):
    b = budget(each_stage)
    print(each_stage.stage, b)  # the figures, for `pytest -s`
    assert fits(b), b


def test_an_api_given_more_concurrency_than_the_preview_holds_is_caught(preview):
    template = copy.deepcopy(preview.template)
    (api,) = [
        f
        for f in template["Resources"].values()
        if f["Properties"].get("Handler") == "functions.api.handler"
    ]
    api["Properties"]["ReservedConcurrentExecutions"] = 100
    assert not fits(budget(dataclasses.replace(preview, template=template)))


def test_the_proxy_answers_before_the_client_gives_up(each_stage):
    b = budget(each_stage)
    connect_timeout = Settings.model_fields["db_connect_timeout"].default
    for function in each_stage.our_functions().values():
        env = function["Properties"]["Environment"]["Variables"]
        connect_timeout = min(connect_timeout, float(env.get("LADDER_DB_CONNECT_TIMEOUT", 5)))
    assert 0 < b["borrow_timeout"] < connect_timeout


def test_the_max_connections_each_stage_gets_is_set_explicitly(each_stage):
    assert budget(each_stage)["max_connections"] >= 80
