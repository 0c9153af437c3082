"""AWS FIS experiment templates: the local chaos drills' counterparts for a deployed stage.

    aws fis start-experiment --experiment-template-id <id from the stack outputs>

- stop one stream task (clients resume on the others);
- reboot the database, failing over where it is Multi-AZ;
- Lambda invocation errors and added latency on the API function (stages with
  `lambda_fault_injection`: the function carries AWS's FIS extension layer,
  whose ARN CloudFormation reads from AWS's public SSM parameter at deploy).

Each experiment stops by itself when an alarm that means real harm fires.
"""

from __future__ import annotations

from aws_cdk import Duration, Stack
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_fis as fis
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_rds as rds
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from infra.config import StageConfig
from infra.nag import acknowledge, logical_id, skip_scan

FIS_EXTENSION_PARAMETER = "/aws/service/fis/lambda-extension/AWS-FIS-extension-arm64/1.x.x"
CONFIG_PREFIX = "FisConfigs/"


class FaultInjection(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        config: StageConfig,
        service: ecs.FargateService,
        database: rds.DatabaseInstance,
        api_function: lambda_.Function,
        alarms: dict[str, cw.Alarm],
        access_logs: s3.IBucket,
    ) -> None:
        super().__init__(scope, id)
        self.role = iam.Role(self, "Role", assumed_by=iam.ServicePrincipal("fis.amazonaws.com"))
        stack = Stack.of(self)
        tasks = stack.format_arn(
            service="ecs",
            resource="task",
            resource_name=f"{service.cluster.cluster_name}/*",
        )
        self.role.add_to_policy(
            iam.PolicyStatement(actions=["ecs:StopTask", "ecs:DescribeTasks"], resources=[tasks])
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=["ecs:ListTasks"],
                resources=["*"],
                conditions={"ArnEquals": {"ecs:cluster": service.cluster.cluster_arn}},
            )
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=["rds:RebootDBInstance", "rds:DescribeDBInstances"],
                resources=[database.instance_arn],
            )
        )
        acknowledge(
            self.role,
            "AwsSolutions::AwsSolutions-IAM5[Resource::*]",
            "ecs:ListTasks takes no resource ARN; the condition limits it to this cluster.",
        )
        acknowledge(
            self.role,
            f"AwsSolutions::AwsSolutions-IAM5[Resource::arn:{stack.partition}:ecs:{stack.region}:"
            f"<AWS::AccountId>:task/<{logical_id(service.cluster)}>/*]",
            "Task ids are chosen at run time; the pattern is this stage's cluster only.",
        )

        def stop_on(
            *names: str,
        ) -> list[fis.CfnExperimentTemplate.ExperimentTemplateStopConditionProperty]:
            return [
                fis.CfnExperimentTemplate.ExperimentTemplateStopConditionProperty(
                    source="aws:cloudwatch:alarm", value=alarms[name].alarm_arn
                )
                for name in names
            ]

        self.templates: dict[str, fis.CfnExperimentTemplate] = {}
        self._template(
            "StopStreamTask",
            "Stop one stream task: its SSE clients resume on another with no gap",
            action_id="aws:ecs:stop-task",
            target=fis.CfnExperimentTemplate.ExperimentTemplateTargetProperty(
                resource_type="aws:ecs:task",
                selection_mode="COUNT(1)",
                parameters={
                    "cluster": service.cluster.cluster_name,
                    "service": service.service_name,
                },
            ),
            target_key="Tasks",
            stop_conditions=stop_on("Api5xx", "StreamUnhealthyHosts"),
        )
        self._template(
            "RebootDatabase",
            "Reboot the database"
            + (" with a Multi-AZ failover" if config.db_multi_az else "")
            + ": the API and workers reconnect, acknowledged writes stay",
            action_id="aws:rds:reboot-db-instances",
            parameters={"forceFailover": "true" if config.db_multi_az else "false"},
            target=fis.CfnExperimentTemplate.ExperimentTemplateTargetProperty(
                resource_type="aws:rds:db",
                selection_mode="ALL",
                resource_arns=[database.instance_arn],
            ),
            target_key="DBInstances",
            stop_conditions=stop_on("DlqNotEmpty"),
        )
        if config.lambda_fault_injection:
            self._lambda_faults(api_function, stop_on, config, access_logs)

    def _template(
        self,
        name: str,
        description: str,
        *,
        action_id: str,
        target: fis.CfnExperimentTemplate.ExperimentTemplateTargetProperty,
        target_key: str,
        stop_conditions,
        parameters: dict[str, str] | None = None,
    ) -> None:
        self.templates[name] = fis.CfnExperimentTemplate(
            self,
            name,
            description=description,
            role_arn=self.role.role_arn,
            targets={"target": target},
            actions={
                "inject": fis.CfnExperimentTemplate.ExperimentTemplateActionProperty(
                    action_id=action_id, parameters=parameters, targets={target_key: "target"}
                )
            },
            stop_conditions=stop_conditions,
            tags={"Name": f"{Stack.of(self).stack_name}-{name}"},
        )

    def _lambda_faults(self, function: lambda_.Function, stop_on, config, access_logs) -> None:
        bucket = s3.Bucket(
            self,
            "Configs",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            server_access_logs_bucket=access_logs,
            server_access_logs_prefix="fis-configs/",
            lifecycle_rules=[s3.LifecycleRule(expiration=Duration.days(7))],
            removal_policy=config.removal,
            auto_delete_objects=not config.retain_data,
        )
        skip_scan(
            bucket,
            "CKV_AWS_21",
            "FIS writes short-lived fault configurations here during an experiment and "
            "nothing else; they expire in a week and have no history worth keeping.",
        )
        layer_arn = ssm.StringParameter.value_for_string_parameter(self, FIS_EXTENSION_PARAMETER)
        function.add_layers(
            lambda_.LayerVersion.from_layer_version_arn(self, "Extension", layer_arn)
        )
        function.add_environment(
            "AWS_FIS_CONFIGURATION_LOCATION", f"{bucket.bucket_arn}/{CONFIG_PREFIX}"
        )
        function.add_environment("AWS_LAMBDA_EXEC_WRAPPER", "/opt/aws-fis/bootstrap")
        # The extension reads the fault configuration FIS writes there.
        objects = bucket.arn_for_objects(f"{CONFIG_PREFIX}*")
        for grantee, actions in (
            (function.role, ["s3:GetObject"]),
            (self.role, ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]),
        ):
            grantee.add_to_principal_policy(
                iam.PolicyStatement(actions=actions, resources=[objects])
            )
            grantee.add_to_principal_policy(
                iam.PolicyStatement(actions=["s3:ListBucket"], resources=[bucket.bucket_arn])
            )
            acknowledge(
                grantee,
                f"AwsSolutions::AwsSolutions-IAM5[Resource::<{logical_id(bucket)}.Arn>/"
                f"{CONFIG_PREFIX}*]",
                "FIS names its configuration objects at run time, under this prefix only.",
            )
        self.role.add_to_policy(
            iam.PolicyStatement(actions=["lambda:GetFunction"], resources=[function.function_arn])
        )
        target = fis.CfnExperimentTemplate.ExperimentTemplateTargetProperty(
            resource_type="aws:lambda:function",
            selection_mode="ALL",
            resource_arns=[function.function_arn],
        )
        self._template(
            "ApiInvocationErrors",
            "Fail 20% of the API function's invocations for 5 minutes",
            action_id="aws:lambda:invocation-error",
            parameters={
                "duration": "PT5M",
                "invocationPercentage": "20",
                "preventExecution": "true",
            },
            target=target,
            target_key="Functions",
            stop_conditions=stop_on("ApiLatencyP99", "DlqNotEmpty"),
        )
        self._template(
            "ApiAddedLatency",
            "Delay half the API function's invocations by 1 s for 5 minutes",
            action_id="aws:lambda:invocation-add-delay",
            parameters={
                "duration": "PT5M",
                "invocationPercentage": "50",
                "startupDelayMilliseconds": "1000",
            },
            target=target,
            target_key="Functions",
            stop_conditions=stop_on("Api5xx", "DlqNotEmpty"),
        )
