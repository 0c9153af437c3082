"""How every ladder Lambda is built: the same layers, runtime, network and settings.

The code is `functions/` and the two layers that the layer build made (no
Docker: `Code.from_asset` only zips directories). infra/ reads the build's
manifest (`.build/lambda/manifest.json`) rather than running the build:
`make synth` and CDK's app command (cdk.json) build first. Each function
gets its own log group with the stage's retention, JSON logs, X-Ray tracing,
arm64, and the environment that points `ladder.settings` at this stage.
"""

from __future__ import annotations

import json
from pathlib import Path

from aws_cdk import Duration
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from infra.config import CONNECTIONS_METADATA, Connections, StageConfig
from infra.encryption import log_group
from infra.nag import CDK_DEPENDS_ON, acknowledge, skip_scan
from infra.queues import dead_letter_queue

ROOT = Path(__file__).resolve().parent.parent
BUILD_MANIFEST = ROOT / ".build" / "lambda" / "manifest.json"


def built_artifacts() -> tuple[str, dict[str, Path]]:
    """The layer build's Python version and artifact directories."""
    if not BUILD_MANIFEST.exists():
        raise FileNotFoundError(
            f"{BUILD_MANIFEST.relative_to(ROOT)} is missing: build the Lambda layers first "
            "(make synth, or python -m ladder_dev.build_layers)"
        )
    manifest = json.loads(BUILD_MANIFEST.read_text())
    return manifest["python"], {k: ROOT / v for k, v in manifest["artifacts"].items()}


EXECUTION_ROLE_FINDINGS = (
    (
        "AwsSolutions::AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/"
        "service-role/AWSLambdaBasicExecutionRole]",
        "AWS's execution policy: write this function's logs.",
    ),
    (
        "AwsSolutions::AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/"
        "service-role/AWSLambdaVPCAccessExecutionRole]",
        "AWS's VPC policy: manage the function's network interfaces in the VPC.",
    ),
    (
        "AwsSolutions::AwsSolutions-IAM5[Resource::*]",
        "X-Ray's PutTraceSegments/PutTelemetryRecords take no resource ARN.",
    ),
    (
        "AwsSolutions::AwsSolutions-IAM5[Action::kms:GenerateDataKey*]",
        "Granted on the stage's one key only, for the KMS-encrypted queue, bucket and secret.",
    ),
    (
        "AwsSolutions::AwsSolutions-IAM5[Action::kms:ReEncrypt*]",
        "Granted on the stage's one key only, as CDK's encrypt grant for that key.",
    ),
)


class LambdaKit(Construct):
    """The layers and shared settings; `function()` makes one configured Lambda."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        config: StageConfig,
        vpc: ec2.IVpc,
        subnets: ec2.SubnetSelection,
        security_group: ec2.ISecurityGroup,
        environment: dict[str, str],
        key: kms.IKey,
    ) -> None:
        super().__init__(scope, id)
        self.config = config
        self.key = key
        self.vpc = vpc
        self.subnets = subnets
        self.security_group = security_group
        self.runtime = lambda_.Runtime.PYTHON_3_14
        python, built = built_artifacts()
        if self.runtime.name != f"python{python}":  # compiled wheels fit one Python
            raise ValueError(f"layers are built for python{python}, not {self.runtime}")
        self.code = lambda_.Code.from_asset(str(built["code"]), exclude=[".inputs-sha256"])
        self.layers = [
            lambda_.LayerVersion(
                self,
                name.capitalize(),
                code=lambda_.Code.from_asset(str(built[name]), exclude=[".inputs-sha256"]),
                compatible_runtimes=[self.runtime],
                compatible_architectures=[lambda_.Architecture.ARM_64],
                description=description,
                removal_policy=config.removal,
            )
            for name, description in (
                ("deps", "ladder's pinned third-party dependencies (layers/requirements.txt)"),
                ("core", "the ladder package (layers/ladder)"),
            )
        ]
        self.failed_invocations = dead_letter_queue(
            self,
            "FailedInvocations",
            key=key,
            removal=config.removal,
            whose="the scheduled functions'",
        )
        self.environment: dict[str, str] = {
            "POWERTOOLS_SERVICE_NAME": "ladder",
            "POWERTOOLS_METRICS_NAMESPACE": "Ladder",
            "LADDER_DB_POOL_SIZE": "1",
            "LADDER_DB_IAM_AUTH": "true",
            **environment,
        }

    def function(
        self,
        id: str,
        *,
        handler: str,
        description: str,
        memory_mb: int = 512,
        timeout: Duration = Duration.seconds(30),
        environment: dict[str, str] | None = None,
        async_invoked: bool = False,
        extra_security_groups: tuple[ec2.ISecurityGroup, ...] = (),
        connections: Connections = Connections(),
        **kwargs,
    ) -> lambda_.Function:
        """One Lambda; `async_invoked` ones (schedules) send failed events to a DLQ.

        `connections` is what one of its environments may hold (its pool is one of them).
        """
        if async_invoked:
            kwargs["dead_letter_queue"] = self.failed_invocations
        logs = log_group(self, f"{id}Logs", config=self.config, key=self.key)
        function = lambda_.Function(
            self,
            id,
            runtime=self.runtime,
            architecture=lambda_.Architecture.ARM_64,
            code=self.code,
            handler=handler,
            layers=self.layers,
            description=description,
            memory_size=memory_mb,
            timeout=timeout,
            environment={**self.environment, **(environment or {})},
            vpc=self.vpc,
            vpc_subnets=self.subnets,
            security_groups=[self.security_group, *extra_security_groups],
            tracing=lambda_.Tracing.ACTIVE,
            logging_format=lambda_.LoggingFormat.JSON,
            log_group=logs,
            environment_encryption=self.key,
            **kwargs,
        )
        # The environment is encrypted with the stage's key; Lambda decrypts it at INIT
        # as the execution role (without kms:Decrypt, INIT fails with KMSAccessDenied).
        self.key.grant_decrypt(function)
        function.node.default_child.add_metadata(CONNECTIONS_METADATA, connections.model_dump())
        for finding, reason in EXECUTION_ROLE_FINDINGS:
            acknowledge(function.role, finding, reason)
        skip_scan(function, "W3005", CDK_DEPENDS_ON)
        if not async_invoked:
            reason = (
                "Invoked synchronously (API Gateway, the SQS mapping or the deploy trigger): "
                "a failure goes back to the caller, which retries or fails the deploy."
            )
            acknowledge(function, "Serverless::Serverless-LambdaDLQ", reason)
            skip_scan(function, "CKV_AWS_116", reason)
        return function
