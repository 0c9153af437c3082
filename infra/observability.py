"""What an operator watches: retention everywhere (set where each log group is
made), one CloudWatch dashboard, and alarms to one SNS topic.

Lambda metrics arrive as EMF in the `Ladder` namespace with the Powertools
`service` dimension; the stream service's Prometheus metrics go to Amazon
Managed Prometheus (Grafana dashboard of both: infra/grafana/ladder.json).
"""

from __future__ import annotations

import json

from aws_cdk import Aws, Duration, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_aps as aps
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_elasticache as elasticache
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_rds as rds
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.config import StageConfig
from infra.queues import dead_letter_queue
from infra.realtime import EMF_NAMESPACE
from ladder.observability import DASHBOARD_METRICS, NAMESPACE, ROUTE_METRICS, SERVICE
from ladder_stream.metrics import metric_names

DIMENSIONS = {"service": SERVICE}

BACKUP_MAX_AGE = Duration.hours(26)

# Alerts on the stream service's Prometheus metrics, evaluated by Amazon Managed
# Prometheus and sent to the same SNS topic as the CloudWatch alarms.
STREAM_ALERTS = [
    {
        "alert": "RelayNotLeading",
        "expr": "(max(ladder_relay_leader) < 1) or absent(ladder_relay_leader)",
        "for": "3m",
        "annotations": {
            "summary": "No stream task's relay leads: live events wait for the sweeper",
            "runbook": "RelayNotLeading",
        },
    },
    {
        "alert": "RelayLagHigh",
        "expr": "max(ladder_relay_lag_seconds) > 10",
        "for": "5m",
        "annotations": {
            "summary": "Events reach Redis more than 10 s after they commit",
            "runbook": "RelayLagHigh",
        },
    },
    {
        "alert": "StreamClientsDropped",
        "expr": "sum(rate(ladder_stream_drops_total[5m])) > 1",
        "for": "10m",
        "annotations": {
            "summary": "More than one slow SSE client a second is being dropped",
            "runbook": "StreamClientsDropped",
        },
    },
]


def app_metric(name: str, statistic: str = "Sum", period: Duration = Duration.minutes(5)):
    return cw.Metric(
        namespace=NAMESPACE,
        metric_name=name,
        dimensions_map=DIMENSIONS,
        statistic=statistic,
        period=period,
    )


class Observability(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        config: StageConfig,
        key: kms.IKey,
        rest_api: apigw.RestApi,
        functions: dict[str, lambda_.IFunction],
        queue: sqs.IQueue,
        dlq: sqs.IQueue,
        database: rds.DatabaseInstance,
        proxy: rds.DatabaseProxy,
        redis: elasticache.CfnReplicationGroup,
        load_balancer: elbv2.ApplicationLoadBalancer,
        prometheus: aps.CfnWorkspace,
        target_group: elbv2.ApplicationTargetGroup,
        service_name: str,
        cluster_name: str,
    ) -> None:
        super().__init__(scope, id)
        self.topic = sns.Topic(self, "Alarms", master_key=key, enforce_ssl=True)
        if config.alarm_email:
            undelivered = dead_letter_queue(
                self,
                "UndeliveredAlarms",
                key=key,
                removal=config.removal,
                whose="the alarm e-mails'",
                unrecognized=True,
            )
            self.topic.add_subscription(
                subscriptions.EmailSubscription(config.alarm_email, dead_letter_queue=undelivered)
            )
        action = cw_actions.SnsAction(self.topic)
        self._prometheus_alerts(prometheus)
        self.alarms: dict[str, cw.Alarm] = {}

        def alarm(name: str, metric: cw.IMetric, description: str, **kwargs) -> None:
            created = cw.Alarm(self, name, metric=metric, alarm_description=description, **kwargs)
            created.add_alarm_action(action)
            created.add_ok_action(action)
            self.alarms[name] = created

        alarm(
            "Api5xx",
            rest_api.metric_server_error(period=Duration.minutes(5), statistic="Sum"),
            "The API answered 5xx: see the API Lambda's logs (runbook: Api5xx).",
            threshold=5,
            evaluation_periods=1,
            comparison_operator=cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
        )
        alarm(
            "ApiLatencyP99",
            rest_api.metric_latency(period=Duration.minutes(5), statistic="p99"),
            "API p99 latency above 1 s for 15 minutes (runbook: ApiLatencyP99).",
            threshold=1000,
            evaluation_periods=3,
            treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
        )
        alarm(
            "DlqNotEmpty",
            dlq.metric_approximate_number_of_messages_visible(
                period=Duration.minutes(1), statistic="Maximum"
            ),
            "A job failed 5 times and is in the DLQ (runbook: DlqNotEmpty).",
            threshold=1,
            evaluation_periods=1,
            comparison_operator=cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
        )
        alarm(
            "OldestJobAge",
            queue.metric_approximate_age_of_oldest_message(
                period=Duration.minutes(5), statistic="Maximum"
            ),
            "A job has waited over 30 minutes (runbook: OldestJobAge).",
            threshold=1800,
            evaluation_periods=2,
            treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
        )
        alarm(
            "BackupStale",
            # The sweeper reports the newest backup's age every minute; no figure
            # (no backup, or no sweeper) is as bad as an old one.
            app_metric("BackupAgeSeconds", "Maximum"),
            "The newest complete backup is older than 26 hours (runbook: BackupStale).",
            threshold=BACKUP_MAX_AGE.to_seconds(),
            evaluation_periods=3,
            comparison_operator=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
            treat_missing_data=cw.TreatMissingData.BREACHING,
        )
        alarm(
            "SeasonCloseOverdue",
            # The sweeper reports every minute how long the most overdue close has waited.
            app_metric("SeasonCloseLagSeconds", "Maximum"),
            "A season past its grace is not frozen after an hour (runbook: SeasonCloseOverdue).",
            threshold=3600,
            evaluation_periods=2,
            comparison_operator=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
            treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
        )
        alarm(
            "CacheDegraded",
            app_metric("CacheErrors"),
            "Redis calls keep failing; reads fall back to Postgres (runbook: CacheDegraded).",
            threshold=10,
            evaluation_periods=3,
            comparison_operator=cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
        )
        alarm(
            "RankIndexDrift",
            # Each reconciliation reports how many players the index held wrongly, and
            # repairs them; drift found twice running means something keeps breaking it.
            app_metric("RankIndexDrift", "Maximum", Duration.minutes(10)),
            "The rank index keeps drifting from Postgres (runbook: RankIndexDrift).",
            threshold=1,
            evaluation_periods=2,
            comparison_operator=cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
        )
        alarm(
            "RestoreDrillFailed",
            app_metric("RestoreDrillSucceeded", "Minimum", Duration.hours(1)),
            "The weekly restore drill failed (runbook: RestoreDrillFailed).",
            threshold=1,
            evaluation_periods=1,
            comparison_operator=cw.ComparisonOperator.LESS_THAN_THRESHOLD,
            treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
        )
        alarm(
            "StreamUnhealthyHosts",
            target_group.metrics.unhealthy_host_count(
                period=Duration.minutes(1), statistic="Maximum"
            ),
            "A stream task fails its health check (runbook: StreamUnhealthyHosts).",
            threshold=1,
            evaluation_periods=3,
            comparison_operator=cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
        )
        for name, function in functions.items():
            alarm(
                f"{name}Errors",
                function.metric_errors(period=Duration.minutes(5), statistic="Sum"),
                f"The {name} Lambda raised errors (runbook: LambdaErrors).",
                threshold=1,
                evaluation_periods=1,
                comparison_operator=cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
            )

        self.dashboard = cw.Dashboard(self, "Dashboard", default_interval=Duration.hours(6))
        graph = _graph
        self.dashboard.add_widgets(
            cw.TextWidget(markdown=f"# ladder {config.name}", width=24, height=1),
            cw.AlarmStatusWidget(alarms=list(self.alarms.values()), width=24, height=3),
        )
        self.dashboard.add_widgets(
            graph("API requests", [rest_api.metric_count()]),
            graph("API errors", [rest_api.metric_client_error(), rest_api.metric_server_error()]),
            graph(
                "API latency",
                [rest_api.metric_latency(statistic=s) for s in ("p50", "p99")]
                + [rest_api.metric_integration_latency(statistic="p99")],
            ),
        )
        self.dashboard.add_widgets(
            graph("Lambda invocations", [f.metric_invocations() for f in functions.values()]),
            graph("Lambda errors", [f.metric_errors() for f in functions.values()]),
            graph(
                "Lambda p99 duration",
                [f.metric_duration(statistic="p99") for f in functions.values()],
            ),
            graph("Lambda throttles", [f.metric_throttles() for f in functions.values()]),
        )
        self.dashboard.add_widgets(
            graph(
                "Queue depth",
                [
                    queue.metric_approximate_number_of_messages_visible(),
                    queue.metric_approximate_number_of_messages_not_visible(),
                    dlq.metric_approximate_number_of_messages_visible(label="DLQ"),
                ],
            ),
            graph("Oldest job (s)", [queue.metric_approximate_age_of_oldest_message()]),
            *(
                graph(row, [app_metric(n) for n in names])
                for row, names in DASHBOARD_METRICS.items()
            ),
        )
        self.dashboard.add_widgets(
            *(
                graph(
                    f"{name} by route ({statistic})",
                    [search(NAMESPACE, name, statistic, "route,service")],
                )
                for name, statistic in ROUTE_METRICS.items()
            )
        )
        ecs_dims = {"ClusterName": cluster_name, "ServiceName": service_name}
        self.dashboard.add_widgets(
            graph(
                "Stream connections",
                [
                    load_balancer.metrics.active_connection_count(),
                    load_balancer.metrics.new_connection_count(),
                ],
            ),
            graph(
                "Stream targets",
                [
                    target_group.metrics.healthy_host_count(),
                    target_group.metrics.unhealthy_host_count(),
                ],
            ),
            graph(
                "Stream tasks CPU / memory",
                [
                    cw.Metric(namespace="AWS/ECS", metric_name=m, dimensions_map=ecs_dims)
                    for m in ("CPUUtilization", "MemoryUtilization")
                ],
            ),
        )
        # The stream service's Prometheus metrics, as the ADOT sidecar's EMF exporter
        # sends them (their dimensions come from labels: search, do not pin).
        self.dashboard.add_widgets(
            *(
                graph(f"Stream: {name}", [search(EMF_NAMESPACE, name, "Maximum", "")])
                for name in metric_names()
            )
        )
        proxy_dims = {"ProxyName": proxy.db_proxy_name}
        # ElastiCache reports per node: <group>-001 is the first, -002 its replica.
        redis_nodes = [f"{redis.ref}-{n:03d}" for n in range(1, config.cache_nodes + 1)]
        self.dashboard.add_widgets(
            graph("RDS CPU", [database.metric_cpu_utilization()]),
            graph("RDS connections", [database.metric_database_connections()]),
            graph("RDS free storage", [database.metric_free_storage_space()]),
            graph(
                "RDS Proxy",
                [
                    cw.Metric(namespace="AWS/RDS", metric_name=m, dimensions_map=proxy_dims)
                    for m in (
                        "ClientConnections",
                        "DatabaseConnections",
                        "QueryDatabaseResponseLatency",
                    )
                ],
            ),
            graph(
                "Redis",
                [
                    cw.Metric(
                        namespace="AWS/ElastiCache",
                        metric_name=m,
                        dimensions_map={"CacheClusterId": node},
                    )
                    for m in ("EngineCPUUtilization", "CurrConnections", "Evictions")
                    for node in redis_nodes
                ],
            ),
        )

    def _prometheus_alerts(self, workspace: aps.CfnWorkspace) -> None:
        aps.CfnRuleGroupsNamespace(
            self,
            "StreamAlerts",
            workspace=workspace.attr_arn,
            name="ladder-stream",
            # JSON is YAML, which is what AMP reads.
            data=json.dumps({"groups": [{"name": "ladder-stream", "rules": STREAM_ALERTS}]}),
        )
        route = {"receiver": "sns", "group_by": ["alertname"]}
        receiver = {
            "name": "sns",
            "sns_configs": [
                {
                    "topic_arn": self.topic.topic_arn,
                    "sigv4": {"region": Stack.of(self).region},
                    "subject": "ladder stream alert",
                }
            ],
        }
        config = json.dumps({"route": route, "receivers": [receiver]})
        workspace.alert_manager_definition = json.dumps({"alertmanager_config": config})
        # Only this stack's workspace may publish (no confused deputy). A topic policy
        # statement, not grant_publish: that would also name the workspace in the key's
        # policy, which the topic (and so the workspace) depends on: a cycle. The key
        # lets AMP's workspaces of this account use it (infra/encryption.py).
        self.topic.add_to_resource_policy(
            iam.PolicyStatement(
                principals=[iam.ServicePrincipal("aps.amazonaws.com")],
                actions=["sns:Publish"],
                resources=[self.topic.topic_arn],
                conditions={
                    "StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID},
                    "ArnEquals": {"aws:SourceArn": workspace.attr_arn},
                },
            )
        )


def search(namespace: str, name: str, statistic: str, dimensions: str) -> cw.MathExpression:
    """Every series of `name`, whatever the values of its dimensions (unknown at synth).

    Without dimensions the name is a search term rather than an exact MetricName:
    the collector may keep or drop a counter's `_total`."""
    schema = ",".join(filter(None, (namespace, dimensions)))
    query = f'{{{schema}}} MetricName="{name}"' if dimensions else f"{{{schema}}} {name}"
    return cw.MathExpression(
        expression=f"SEARCH('{query}', '{statistic}', 300)",
        label="",
        period=Duration.minutes(5),
    )


def _graph(title: str, metrics: list[cw.IMetric]) -> cw.GraphWidget:
    return cw.GraphWidget(title=title, left=metrics, width=6, height=6)
