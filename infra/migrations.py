"""The deploy-time migration: a CDK trigger runs `functions/migrate.py` once
the database and its proxy are up, and before the functions and tasks that
need the new schema are updated. A failed migration fails the deploy.

The trigger runs when its function changes; the function's `LADDER_DEPLOY_ID`
is new on every synth (or `-c deploy_id=…`), so it runs on every deploy:
migrations are idempotent, and the rating rules are compared each time.
"""

from __future__ import annotations

from datetime import UTC, datetime

from aws_cdk import Duration, triggers
from aws_cdk import aws_ec2 as ec2
from constructs import Construct, IConstruct

from infra.config import Connections, StageConfig
from infra.lambdas import LambdaKit


class Migrations(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        config: StageConfig,
        kit: LambdaKit,
        after: list[IConstruct],
        environment: dict[str, str],
        extra_security_groups: tuple[ec2.ISecurityGroup, ...],
    ) -> None:
        super().__init__(scope, id)
        deploy_id = config.deploy_id or datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        self.function = kit.function(
            "Migrate",
            handler="functions.migrate.handler",
            description="ladder schema migrations and rating rules, run on every deploy",
            timeout=Duration.minutes(5),
            environment={"LADDER_DEPLOY_ID": deploy_id, **environment},
            extra_security_groups=extra_security_groups,
            reserved_concurrent_executions=1,
            connections=Connections(proxy=1, direct=1),  # migrations; the master's bootstrap
        )
        self.trigger = triggers.Trigger(
            self,
            "Trigger",
            handler=self.function,
            execute_after=after,
            execute_on_handler_change=True,
            timeout=Duration.minutes(5),
        )

    def before(self, *constructs: IConstruct) -> None:
        """Make `constructs` deploy only after the migration succeeded."""
        self.trigger.execute_before(*constructs)
