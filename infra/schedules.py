"""EventBridge Scheduler: the nightly backup, the weekly restore drill, the
minutely sweeper (outbox, jobs, and the season closes and resets due). Failed
invocations land in a dead-letter queue."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy, TimeZone
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_scheduler_targets as targets
from constructs import Construct

from infra.nag import acknowledge, logical_id
from infra.queues import dead_letter_queue

SCHEDULES = {
    # name: (expression, description)
    "NightlyBackup": (
        scheduler.ScheduleExpression.cron(minute="0", hour="3", time_zone=TimeZone.ETC_UTC),
        "Back up the database at 03:00 UTC",
    ),
    "WeeklyRestoreDrill": (
        scheduler.ScheduleExpression.cron(
            minute="0", hour="5", week_day="SUN", time_zone=TimeZone.ETC_UTC
        ),
        "Restore the latest backup into a scratch database on Sundays at 05:00 UTC",
    ),
    "OutboxSweeper": (
        scheduler.ScheduleExpression.rate(Duration.minutes(1)),
        "Publish events and send jobs that nothing else did; close seasons and reset ratings",
    ),
}


class Schedules(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        key: kms.IKey,
        functions: dict[str, lambda_.IFunction],
        removal: RemovalPolicy,
    ) -> None:
        super().__init__(scope, id)
        self.dead_letters = dead_letter_queue(
            self, "DeadLetters", key=key, removal=removal, whose="the schedules'", unrecognized=True
        )
        self.schedules = {}
        for name, (expression, description) in SCHEDULES.items():
            role = iam.Role(
                self, f"{name}Role", assumed_by=iam.ServicePrincipal("scheduler.amazonaws.com")
            )
            function = functions[name]
            acknowledge(
                role,
                f"AwsSolutions::AwsSolutions-IAM5[Resource::<{logical_id(function)}.Arn>:*]",
                "CDK's scheduler target grants invoke on the function and its versions "
                "(`<function>:*`); it is this one function.",
            )
            self.schedules[name] = scheduler.Schedule(
                self,
                name,
                schedule=expression,
                description=description,
                target=targets.LambdaInvoke(
                    function,
                    role=role,
                    dead_letter_queue=self.dead_letters,
                    max_event_age=Duration.hours(1),
                    retry_attempts=2,
                ),
            )
