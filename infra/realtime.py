"""The stream service: Fargate tasks running `functions/stream.py` behind an ALB.

- The image is built from the repo's Dockerfile at deploy (an image asset:
  synth only stages the files the .dockerignore lets through).
- The ALB: idle timeout 300 s (heartbeats every 15 s keep streams open), a
  short deregistration delay (a draining task's clients resume elsewhere from
  their Last-Event-ID; waiting the default 300 s would only delay deploys),
  health check `/health`, HTTPS when a certificate ARN is configured.
- Metrics: the app serves Prometheus on 127.0.0.1:9464 inside the task. An
  ADOT collector sidecar in the same task scrapes it over localhost and
  remote-writes to Amazon Managed Prometheus with SigV4. No listener, target
  group or security group rule names that port.
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import Duration, Stack
from aws_cdk import aws_aps as aps
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from infra.config import (
    CONNECTIONS_METADATA,
    STREAM_DB_POOL_SIZE,
    STREAM_METRICS_PORT,
    STREAM_PORT,
    Connections,
    StageConfig,
)
from infra.encryption import log_group
from infra.nag import acknowledge, skip_scan
from infra.network import Network

HEALTH_CHECK = (
    "import urllib.request; "
    f"urllib.request.urlopen('http://127.0.0.1:{STREAM_PORT}/health', timeout=2)"
)
ROOT = Path(__file__).resolve().parent.parent
EMF_NAMESPACE = "LadderStream"
ADOT_IMAGE = "public.ecr.aws/aws-observability/aws-otel-collector:v0.43.3"

# The collector's whole configuration: scrape the app over localhost, sign the
# remote write to AMP with the task role (SigV4), and send the same metrics to
# CloudWatch as EMF (namespace LadderStream), so the CloudWatch dashboard shows
# them too.
ADOT_CONFIG = """\
extensions:
  sigv4auth:
    region: {region}
    service: aps
receivers:
  prometheus:
    config:
      global:
        scrape_interval: 15s
      scrape_configs:
        - job_name: ladder-stream
          static_configs:
            - targets: ["127.0.0.1:{metrics_port}"]
processors:
  batch: {{}}
exporters:
  awsemf:
    namespace: {emf_namespace}
    log_group_name: {emf_log_group}
    region: {region}
  prometheusremotewrite:
    endpoint: {endpoint}api/v1/remote_write
    auth:
      authenticator: sigv4auth
    resource_to_telemetry_conversion:
      enabled: true
service:
  extensions: [sigv4auth]
  pipelines:
    metrics:
      receivers: [prometheus]
      processors: [batch]
      exporters: [prometheusremotewrite, awsemf]
"""


class Realtime(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        config: StageConfig,
        network: Network,
        environment: dict[str, str],
        redis_token: secretsmanager.ISecret,
        access_logs: s3.IBucket,
        key: kms.IKey,
    ) -> None:
        super().__init__(scope, id)
        self.workspace = aps.CfnWorkspace(self, "Prometheus", alias=f"{config.prefix}-metrics")
        self.cluster = ecs.Cluster(
            self,
            "Cluster",
            vpc=network.vpc,
            container_insights_v2=ecs.ContainerInsights.ENHANCED,
        )
        task = ecs.FargateTaskDefinition(
            self,
            "Task",
            cpu=config.stream_cpu,
            memory_limit_mib=config.stream_memory_mb,
            runtime_platform=ecs.RuntimePlatform(
                cpu_architecture=ecs.CpuArchitecture.ARM64,
                operating_system_family=ecs.OperatingSystemFamily.LINUX,
            ),
        )
        app_logs = log_group(self, "AppLogs", config=config, key=key)
        collector_logs = log_group(self, "CollectorLogs", config=config, key=key)
        metrics_logs = log_group(self, "MetricsLogs", config=config, key=key)
        self.image = ecr_assets.DockerImageAsset(
            self, "Image", directory=str(ROOT), platform=ecr_assets.Platform.LINUX_ARM64
        )
        self.container = task.add_container(
            "stream",
            image=ecs.ContainerImage.from_docker_image_asset(self.image),
            essential=True,
            port_mappings=[ecs.PortMapping(container_port=STREAM_PORT)],  # the only one
            environment={
                **environment,
                "LADDER_STREAM_METRICS_PORT": str(STREAM_METRICS_PORT),
                "LADDER_DB_POOL_SIZE": str(STREAM_DB_POOL_SIZE),
            },
            secrets={"LADDER_REDIS_PASSWORD": ecs.Secret.from_secrets_manager(redis_token)},
            logging=ecs.LogDrivers.aws_logs(stream_prefix="stream", log_group=app_logs),
            health_check=ecs.HealthCheck(
                command=["CMD", "python", "-c", HEALTH_CHECK],
                interval=Duration.seconds(15),
                timeout=Duration.seconds(5),
                retries=3,
                start_period=Duration.seconds(30),
            ),
            stop_timeout=Duration.seconds(30),
            readonly_root_filesystem=True,
        )
        # Its event-log pool through the proxy, and its relay candidate's own connection.
        task.node.default_child.add_metadata(
            CONNECTIONS_METADATA,
            Connections(proxy=STREAM_DB_POOL_SIZE, direct=1).model_dump(),
        )
        task.add_container(
            "adot-collector",
            image=ecs.ContainerImage.from_registry(ADOT_IMAGE),
            essential=False,  # losing metrics must not take the stream down
            command=["--config=env:AOT_CONFIG_CONTENT"],
            environment={
                "AOT_CONFIG_CONTENT": ADOT_CONFIG.format(
                    region=Stack.of(self).region,
                    metrics_port=STREAM_METRICS_PORT,
                    endpoint=self.workspace.attr_prometheus_endpoint,
                    emf_namespace=EMF_NAMESPACE,
                    emf_log_group=metrics_logs.log_group_name,
                )
            },
            logging=ecs.LogDrivers.aws_logs(stream_prefix="adot", log_group=collector_logs),
        )
        acknowledge(
            task,
            "AwsSolutions::AwsSolutions-ECS2",
            "The environment holds only configuration (endpoints, names, flags); the one "
            "secret, the Redis token, is injected from Secrets Manager.",
        )
        acknowledge(
            task.obtain_execution_role(),
            "AwsSolutions::AwsSolutions-IAM5[Resource::*]",
            "ecr:GetAuthorizationToken takes no resource ARN.",
        )
        task.add_to_task_role_policy(
            iam.PolicyStatement(actions=["aps:RemoteWrite"], resources=[self.workspace.attr_arn])
        )
        metrics_logs.grant_write(task.task_role)  # the EMF exporter's log events

        # Its only ingress: the ALB on 8001, added when the service becomes a target.
        self.tasks_sg = ec2.SecurityGroup(
            self, "TasksSg", vpc=network.vpc, description="stream tasks: the ALB only, on 8001"
        )
        alb_sg = ec2.SecurityGroup(
            self, "AlbSg", vpc=network.vpc, description="public listener of the stream service"
        )
        listener_port = 443 if config.certificate_arn else 80
        alb_sg.add_ingress_rule(ec2.Peer.any_ipv4(), ec2.Port.tcp(listener_port), "clients")
        acknowledge(
            alb_sg,
            "AwsSolutions::AwsSolutions-EC23",
            "The stream's public listener: browsers and game clients connect from anywhere.",
        )

        self.service = ecs.FargateService(
            self,
            "Service",
            cluster=self.cluster,
            task_definition=task,
            desired_count=config.stream_min_tasks,
            min_healthy_percent=100,
            max_healthy_percent=200,
            vpc_subnets=network.app_subnets,
            security_groups=[self.tasks_sg],
            circuit_breaker=ecs.DeploymentCircuitBreaker(rollback=True),
            enable_execute_command=False,
        )
        scaling = self.service.auto_scale_task_count(
            min_capacity=config.stream_min_tasks, max_capacity=config.stream_max_tasks
        )
        scaling.scale_on_cpu_utilization("Cpu", target_utilization_percent=60)
        scaling.scale_on_memory_utilization("Memory", target_utilization_percent=70)

        self.alb = elbv2.ApplicationLoadBalancer(
            self,
            "Alb",
            vpc=network.vpc,
            internet_facing=True,
            security_group=alb_sg,
            idle_timeout=Duration.seconds(300),
            drop_invalid_header_fields=True,
            deletion_protection=config.retain_data,
        )
        self.alb.log_access_logs(access_logs, prefix="stream-alb")
        if config.certificate_arn:
            listener = self.alb.add_listener(
                "Https",
                port=443,
                certificates=[
                    acm.Certificate.from_certificate_arn(self, "Cert", config.certificate_arn)
                ],
                ssl_policy=elbv2.SslPolicy.RECOMMENDED_TLS,
                open=False,
            )
            scheme = "https"
        else:  # a preview without a certificate (prod refuses to synthesize without one)
            listener = self.alb.add_listener("Http", port=80, open=False)
            scheme = "http"
            plain = (
                "A preview given no certificate listens on HTTP; prod cannot be synthesized "
                "without one (infra/config.py), so its listener is always HTTPS."
            )
            skip_scan(listener, "CKV_AWS_2", plain)
            skip_scan(listener, "CKV_AWS_103", plain)
            skip_scan(alb_sg, "CKV_AWS_260", plain)
        self.target_group = listener.add_targets(
            "Stream",
            port=STREAM_PORT,
            protocol=elbv2.ApplicationProtocol.HTTP,
            targets=[self.service],
            deregistration_delay=Duration.seconds(30),
            health_check=elbv2.HealthCheck(
                path="/health",
                healthy_http_codes="200",
                interval=Duration.seconds(15),
                healthy_threshold_count=2,
                unhealthy_threshold_count=3,
            ),
        )
        skip_scan(
            self.service,
            "W3005",
            "CDK makes the service wait for its listener's rule (DependsOn) besides naming the "
            "target group: redundant for cfn-lint, harmless for CloudFormation.",
        )
        self.url = f"{scheme}://{self.alb.load_balancer_dns_name}"

    def set_public_api_url(self, url: str) -> None:
        """The API the live page (served at `/`) reads the leaderboard from."""
        self.container.add_environment("LADDER_PUBLIC_API_URL", url)
