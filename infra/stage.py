"""One stage of ladder: the stack that wires the constructs together.

network → data (Postgres behind RDS Proxy, Redis) → auth, api, jobs,
backups, schedules, realtime → migrations (a trigger) → observability

It also builds what belongs to no one construct: the sweeper Lambda (it serves
jobs, events and backups alike), the WAF's association with the stream's load
balancer, the stack's outputs and cdk-nag's checks and acknowledgements.
`build_app` makes the CDK app from cdk.json's flags and the stage's context.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from aws_cdk import App, CfnOutput, Duration, Environment, Stack, Tags
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

from infra.api import Api, Auth
from infra.backups import Backups, access_log_bucket
from infra.config import DB_APP_USER, DB_OWNER_USER, Connections, StageConfig
from infra.data import Data
from infra.encryption import stage_key
from infra.faults import FaultInjection
from infra.jobs import Jobs
from infra.lambdas import LambdaKit
from infra.migrations import Migrations
from infra.nag import CDK_DEPENDS_ON, acknowledge, add_checks, skip_scan
from infra.network import Network
from infra.observability import Observability
from infra.realtime import Realtime
from infra.schedules import Schedules

CDK_JSON = Path(__file__).resolve().parent.parent / "cdk.json"
# Custom-resource providers CDK adds once per stack.
TRIGGER_PROVIDER = "AWSCDK.TriggerCustomResourceProviderCustomResourceProvider"
AUTO_DELETE_PROVIDER = "Custom::S3AutoDeleteObjectsCustomResourceProvider"


class LadderStack(Stack):
    def __init__(self, scope: Construct, id: str, *, config: StageConfig, **kwargs) -> None:
        super().__init__(scope, id, description=f"ladder ({config.name})", **kwargs)
        self.config = config
        key = stage_key(self, config)

        network = Network(self, "Network", config=config, key=key)
        data = Data(self, "Data", config=config, network=network, key=key)
        auth = Auth(self, "Auth", config=config)
        jobs = Jobs(self, "Jobs", config=config, key=key)
        access_logs = access_log_bucket(self, config)
        backups = Backups(self, "Backups", config=config, key=key, access_logs=access_logs)
        environment = {
            "REDIS_URL": data.redis_url,
            **jobs.environment,
            **backups.environment,
            **auth.environment,
        }
        kit = LambdaKit(
            self,
            "Lambdas",
            config=config,
            vpc=network.vpc,
            subnets=network.app_subnets,
            security_group=data.clients,
            environment={
                **environment,
                "LADDER_REDIS_PASSWORD_SECRET_ARN": data.redis_token.secret_arn,
            },
            key=key,
        )

        realtime = Realtime(
            self,
            "Realtime",
            config=config,
            network=network,
            environment={
                **environment,
                "DATABASE_URL": data.proxy_url(DB_APP_USER),
                "RELAY_DATABASE_URL": data.relay_database_url,
                "LADDER_DB_IAM_AUTH": "true",
                "AWS_REGION": self.region,
            },
            redis_token=data.redis_token,
            access_logs=access_logs,
            key=key,
        )
        data.admit(realtime.tasks_sg)
        data.admit(realtime.tasks_sg, relay=True)
        data.grant_relay(realtime.service.task_definition.task_role)
        api = Api(self, "Api", config=config, kit=kit, auth=auth, cors_origin=realtime.url)
        realtime.set_public_api_url(api.url)
        wafv2.CfnWebACLAssociation(
            self,
            "WafStream",
            resource_arn=realtime.alb.load_balancer_arn,
            web_acl_arn=api.web_acl.attr_arn,
        )

        worker = jobs.add_worker(kit, config=config)
        backups.add_functions(kit, config=config)
        sweeper = kit.function(
            "Sweeper",
            handler="functions.sweeper.handler",
            description="ladder outbox sweeper: events and jobs nothing else sent",
            timeout=Duration.seconds(55),
            async_invoked=True,
            environment={"RELAY_DATABASE_URL": data.relay_database_url},
            extra_security_groups=(data.relays,),
            reserved_concurrent_executions=1,
            connections=Connections(proxy=1, direct=1),  # the job dispatch; the relay's lock
        )
        data.grant_relay(sweeper)
        migrations = Migrations(
            self,
            "Migrations",
            config=config,
            kit=kit,
            after=[data.instance, data.proxy],
            # The bootstrap signs in as the master, straight to the instance.
            environment={"LADDER_DB_BOOTSTRAP_SECRET_ARN": data.secret.secret_arn},
            extra_security_groups=(data.relays,),
        )
        data.grant_bootstrap(migrations.function)
        functions = {
            "Api": api.function,
            "JobWorker": worker,
            "Backup": backups.backup,
            "RestoreDrill": backups.drill,
            "Sweeper": sweeper,
            "Migrate": migrations.function,
        }
        # Who each function is to the database (ladder.db.roles): the owner changes
        # the schema (migrations) or creates databases (the drill); the rest only rows.
        owners = ("RestoreDrill", "Migrate")
        for name, function in functions.items():
            data.connect(function, DB_OWNER_USER if name in owners else DB_APP_USER)
        data.proxy.grant_connect(realtime.service.task_definition.task_role, DB_APP_USER)
        for function in (api.function, worker, sweeper, migrations.function):
            jobs.queue.grant_send_messages(function)
        jobs.queue.grant(api.function, "sqs:GetQueueAttributes")
        jobs.dlq.grant_consume_messages(api.function)  # redrive and queue stats
        backups.grant_read(api.function)
        backups.grant_read(sweeper)  # it reports the newest backup's age
        backups.grant_backup(worker)  # backup.create jobs
        # The resources themselves, not their roles: a role waiting on the trigger
        # would wait on the database, whose key policy names the role.
        migrations.before(
            api.alias.node.default_child,
            worker.node.default_child,
            realtime.service.node.default_child,
        )

        Schedules(
            self,
            "Schedules",
            key=key,
            removal=config.removal,
            functions={
                "NightlyBackup": backups.backup,
                "WeeklyRestoreDrill": backups.drill,
                "OutboxSweeper": sweeper,
            },
        )
        observability = Observability(
            self,
            "Observability",
            config=config,
            key=key,
            rest_api=api.rest_api,
            functions=functions,
            queue=jobs.queue,
            dlq=jobs.dlq,
            database=data.instance,
            proxy=data.proxy,
            redis=data.redis,
            load_balancer=realtime.alb,
            prometheus=realtime.workspace,
            target_group=realtime.target_group,
            service_name=realtime.service.service_name,
            cluster_name=realtime.cluster.cluster_name,
        )

        faults = FaultInjection(
            self,
            "Faults",
            config=config,
            service=realtime.service,
            database=data.instance,
            api_function=api.function,
            alarms=observability.alarms,
            access_logs=access_logs,
        )

        outputs = {
            "ApiUrl": (api.url, "The public API (append v1/…)"),
            "StreamUrl": (realtime.url, "The event stream service (/v1/stream, live page at /)"),
            "CognitoUserPoolId": (auth.user_pool.user_pool_id, "Cognito user pool"),
            "CognitoIssuer": (auth.issuer, "Token issuer; JWKS at <issuer>/.well-known/jwks.json"),
            "CognitoTokenUrl": (auth.token_url, "OAuth2 token endpoint (client credentials)"),
            "CognitoGameServerClientId": (
                auth.game_server_client.user_pool_client_id,
                "Game servers' app client, ladder/write only (secret: aws cognito-idp "
                "describe-user-pool-client)",
            ),
            "CognitoOperatorClientId": (
                auth.operator_client.user_pool_client_id,
                "Operators' app client, ladder/write and ladder/admin",
            ),
            "BackupBucket": (backups.bucket.bucket_name, "Backups and drill records"),
            "JobsQueueUrl": (jobs.queue.queue_url, "Jobs queue"),
            "AlarmTopicArn": (observability.topic.topic_arn, "Subscribe on-call here"),
            "DashboardName": (observability.dashboard.dashboard_name, "CloudWatch dashboard"),
            "PrometheusRemoteWriteUrl": (
                realtime.workspace.attr_prometheus_endpoint,
                "Amazon Managed Prometheus workspace (Grafana data source)",
            ),
        }
        outputs.update(
            {
                f"FisTemplate{name}": (template.attr_id, f"FIS experiment: {template.description}")
                for name, template in faults.templates.items()
            }
        )
        for name, (value, description) in outputs.items():
            CfnOutput(self, name, value=value, description=description)
        self._accept_cdk_helper_findings()
        untaggable = ["AWS::RDS::DBProxyTargetGroup"]
        Tags.of(self).add("Application", "ladder", exclude_resource_types=untaggable)
        Tags.of(self).add("Stage", config.name, exclude_resource_types=untaggable)

    def _accept_cdk_helper_findings(self) -> None:
        """Findings on the Lambdas CDK itself adds (RDS's log retention, the trigger's
        provider): CDK owns their code and settings; each exception says why it is fine."""
        log_retention = next(c for c in self.node.children if c.node.id.startswith("LogRetention"))
        for finding, reason in (
            (
                "AwsSolutions::AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/"
                "service-role/AWSLambdaBasicExecutionRole]",
                "CDK's log-retention function (for RDS's log groups) writes its own logs.",
            ),
            (
                "AwsSolutions::AwsSolutions-IAM5[Resource::*]",
                "CDK's log-retention function sets retention on log groups RDS creates by name.",
            ),
        ):
            acknowledge(log_retention, finding, reason)
        helpers = [
            (log_retention.node.find_child("Resource"), "RDS's log-retention setter"),
            (
                self.node.find_child(TRIGGER_PROVIDER).node.find_child("Handler"),
                "The migration trigger's provider",
            ),
        ]
        if not self.config.retain_data:  # previews empty their buckets before deleting them
            helpers.append(
                (
                    self.node.find_child(AUTO_DELETE_PROVIDER).node.find_child("Handler"),
                    "The bucket emptier of a preview",
                )
            )
        for function, what in helpers:
            for check, reason in (
                ("CKV_AWS_116", "invoked synchronously by CloudFormation, which reports failures"),
                ("CKV_AWS_117", "calls only AWS APIs (no VPC resource), as CDK builds it"),
                ("CKV_AWS_115", "runs once per deploy; CloudFormation bounds its concurrency"),
            ):
                skip_scan(function, check, f"{what} (CDK's own Lambda): {reason}.")
            skip_scan(function, "W3005", CDK_DEPENDS_ON)
        skip_scan(
            log_retention.node.find_child("ServiceRole").node.find_child("DefaultPolicy"),
            "CKV_AWS_111",
            "CDK's log-retention setter may change retention on RDS's log groups, named only "
            "at run time.",
        )


def build_app(context: dict | None = None, outdir: str | None = None) -> tuple[App, LadderStack]:
    """The CDK app for the stage named in context (`-c stage=…`).

    cdk.json's context (feature flags) is applied here too, so running
    `python app.py` directly (make synth, tests) builds what `cdk` builds.
    """
    flags = json.loads(CDK_JSON.read_text())["context"]
    app = App(context={**flags, **(context or {})}, outdir=outdir)
    context = {
        name: app.node.try_get_context(name)
        for name in ("certificate_arn", "alarm_email", "deploy_id", "owns_api_gateway_account")
    }
    config = StageConfig.for_stage(app.node.try_get_context("stage"), **context)
    # A concrete region (ALB access logs need it): the CLI's, else `-c region=`.
    # Never a silent default: a stage synthesized for one region and deployed to
    # another would log to the wrong place. The account stays unknown until deploy.
    region = os.environ.get("CDK_DEFAULT_REGION") or app.node.try_get_context("region")
    if not region:
        raise ValueError(
            "no AWS region: configure one for the CDK CLI (AWS_REGION or a profile) "
            "or pass -c region=<region>"
        )
    stack = LadderStack(
        app,
        config.prefix,
        config=config,
        env=Environment(account=os.environ.get("CDK_DEFAULT_ACCOUNT"), region=region),
    )
    add_checks(app)
    return app, stack
