"""The stream service on Fargate: image asset, ALB, autoscaling, metrics via ADOT → AMP."""

from infra.config import STREAM_METRICS_PORT, STREAM_PORT


def _containers(stage):
    return {c["Name"]: c for c in stage.props("AWS::ECS::TaskDefinition")["ContainerDefinitions"]}


def test_the_service_runs_the_repo_image_built_at_deploy(stage):
    images = stage.assets["dockerImages"]
    (image,) = images.values()
    staged = stage.outdir / image["source"]["directory"]
    assert (staged / "Dockerfile").exists()
    assert (staged / "functions" / "stream.py").exists()
    assert not (staged / ".venv").exists()  # .dockerignore keeps the context small
    assert not (staged / "tests").exists()
    stream = _containers(stage)["stream"]
    assert "container-assets" in stage.text(stream["Image"])
    task = stage.props("AWS::ECS::TaskDefinition")
    assert task["RuntimePlatform"]["CpuArchitecture"] == "ARM64"
    assert task["RequiresCompatibilities"] == ["FARGATE"]


def test_container_insights_and_autoscaling(prod):
    cluster = prod.props("AWS::ECS::Cluster")
    assert {"Name": "containerInsights", "Value": "enhanced"} in cluster["ClusterSettings"]
    target = prod.props("AWS::ApplicationAutoScaling::ScalableTarget")
    assert (target["MinCapacity"], target["MaxCapacity"]) == (2, 10)
    assert len(prod.resources("AWS::ApplicationAutoScaling::ScalingPolicy")) == 2


def test_the_alb_suits_long_lived_streams(stage):
    alb = stage.props("AWS::ElasticLoadBalancingV2::LoadBalancer")
    attributes = {a["Key"]: a["Value"] for a in alb["LoadBalancerAttributes"]}
    assert int(attributes["idle_timeout.timeout_seconds"]) >= 120
    assert attributes["access_logs.s3.enabled"] == "true"
    group = stage.props("AWS::ElasticLoadBalancingV2::TargetGroup")
    assert group["HealthCheckPath"] == "/health"
    assert group["Port"] == STREAM_PORT
    delay = {a["Key"]: a["Value"] for a in group["TargetGroupAttributes"]}
    assert int(delay["deregistration_delay.timeout_seconds"]) <= 60


def test_https_when_a_certificate_is_configured(preview, with_certificate):
    listener = with_certificate.props("AWS::ElasticLoadBalancingV2::Listener")
    assert (listener["Port"], listener["Protocol"]) == (443, "HTTPS")
    assert listener["Certificates"] == [
        {"CertificateArn": "arn:aws:acm:us-east-1:111111111111:certificate/abc"}
    ]
    assert preview.props("AWS::ElasticLoadBalancingV2::Listener")["Port"] == 80


def test_an_adot_sidecar_scrapes_localhost_and_remote_writes_to_amp_with_sigv4(stage):
    collector = _containers(stage)["adot-collector"]
    (config,) = (e["Value"] for e in collector["Environment"] if e["Name"] == "AOT_CONFIG_CONTENT")
    text = stage.text(config)
    assert f"127.0.0.1:{STREAM_METRICS_PORT}" in text
    assert "sigv4auth" in text
    assert "api/v1/remote_write" in text
    assert "PrometheusEndpoint" in text  # the stage's own AMP workspace
    assert '"aps:RemoteWrite"' in stage.text(stage.resources("AWS::IAM::Policy"))


def test_the_metrics_port_is_reachable_from_nowhere(stage):
    stream = _containers(stage)["stream"]
    assert [p["ContainerPort"] for p in stream["PortMappings"]] == [STREAM_PORT]
    port = STREAM_METRICS_PORT
    for kind in (
        "AWS::EC2::SecurityGroupIngress",
        "AWS::EC2::SecurityGroup",
        "AWS::ElasticLoadBalancingV2::Listener",
        "AWS::ElasticLoadBalancingV2::TargetGroup",
    ):
        for resource in stage.resources(kind).values():
            assert str(port) not in stage.text(resource), kind
    ingress = [r["Properties"] for r in stage.resources("AWS::EC2::SecurityGroupIngress").values()]
    to_tasks = [r for r in ingress if r["FromPort"] == STREAM_PORT]
    assert len(to_tasks) == 1
    assert "SourceSecurityGroupId" in to_tasks[0]  # the ALB's group, not a CIDR
