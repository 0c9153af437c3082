"""Each stage's settings, typed: what differs between prod, staging and a preview.

`cdk deploy --all -c stage=<name>` picks one: `prod`, `staging`, or `pr-<n>`
for a pull request's preview. Previews are small and disposable (everything
is destroyed with the stack); prod keeps its data when the stack or a
resource is deleted. Optional context values (`-c certificate_arn=…`,
`-c alarm_email=…`, `-c deploy_id=…`, `-c owns_api_gateway_account=true`)
fill the fields named alike. Prod refuses to exist without a certificate:
its stream listener is HTTPS only.
"""

from __future__ import annotations

import re
from typing import Literal

from aws_cdk import RemovalPolicy
from aws_cdk import aws_logs as logs
from pydantic import BaseModel, ConfigDict, Field

STAGE_PATTERN = re.compile(r"^(prod|staging|pr-[0-9]{1,6})$")

DB_NAME = "ladder"
DB_ADMIN_USER = "ladder_admin"  # the RDS master: only the deploy's bootstrap uses it
# ladder.db.roles: the schema's owner, the application (rows only) and the relay.
DB_OWNER_USER, DB_APP_USER, DB_RELAY_USER = "ladder_owner", "ladder_app", "ladder_relay"
DB_PORT = 5532  # not 5432: scanners try the default first
PROXY_PORT = 5432  # RDS Proxy for PostgreSQL always listens on 5432
REDIS_PORT = 6380  # not 6379, for the same reason
STREAM_PORT = 8001
STREAM_METRICS_PORT = 9464  # localhost only: no listener, target group or rule names it
STREAM_DB_POOL_SIZE = 4  # connections per stream task (event log reads), plus its relay's one

# PostgreSQL's max_connections, set explicitly in each stage's parameter group
# so the connection budget (tests/infra/test_connection_budget.py) is checked
# against the number the server enforces. Near RDS's default for the class
# (LEAST(DBInstanceClassMemory / 9531392, 5000)), rounded down.
DB_MAX_CONNECTIONS = {"t4g.micro": 80, "t4g.small": 170, "t4g.medium": 400, "r7g.large": 1600}
# Kept free of the budget: RDS's own sessions (rdsadmin), superuser_reserved_connections
# and an operator's psql during an incident.
DB_RESERVED_CONNECTIONS = 15


class Connections(BaseModel):
    """Database connections one environment (a Lambda instance, a stream task) may hold at
    once: through RDS Proxy (its pool, `LADDER_DB_POOL_SIZE`, plus any connection its code
    opens for itself) and straight to the instance (relay, bootstrap). Written into the
    template as resource metadata (`CONNECTIONS_METADATA`): the connection budget test reads
    it there, and the tests that run each function as deployed measure it."""

    model_config = ConfigDict(frozen=True)

    proxy: int = Field(1, ge=0)
    direct: int = Field(0, ge=0)


CONNECTIONS_METADATA = "ladder:connections"


class StageConfig(BaseModel):
    """One stage. Field defaults are a preview's; `for_stage` sets the rest."""

    model_config = ConfigDict(frozen=True)

    name: str = Field(pattern=STAGE_PATTERN.pattern)
    retain_data: bool = Field(False, description="Keep data when resources are deleted.")
    # network
    nat_gateways: int = Field(1, ge=1, le=2)
    # database
    db_instance_class: str = "t4g.micro"
    db_allocated_gib: int = Field(20, ge=20)
    db_max_allocated_gib: int = Field(50, ge=20)
    db_multi_az: bool = False
    db_backup_days: int = Field(7, ge=1, le=35)
    db_rotation_days: int = Field(30, ge=1, le=365)
    # cache
    cache_node_type: str = "cache.t4g.micro"
    cache_nodes: int = Field(1, ge=1, le=6, description="Primary plus replicas.")
    # lambdas
    api_memory_mb: int = 1024
    job_memory_mb: int = 2048
    backup_memory_mb: int = 1024
    job_max_concurrency: int = Field(2, ge=2, le=1000)
    api_reserved_concurrency: int = Field(
        10, ge=1, description="The API Lambda's reserved concurrency: its share of connections."
    )
    # RDS Proxy: the share of max_connections it may open to the instance.
    proxy_max_connections_percent: int = Field(60, ge=1, le=100)
    # api
    api_rate_limit: int = Field(100, ge=1, description="Steady requests per second per stage.")
    api_burst_limit: int = Field(200, ge=1)
    waf_requests_per_5_min_per_ip: int = Field(2000, ge=100)
    # realtime
    stream_cpu: int = 512
    stream_memory_mb: int = 1024
    stream_min_tasks: int = Field(1, ge=1)
    stream_max_tasks: int = Field(2, ge=1)
    certificate_arn: str | None = None
    owns_api_gateway_account: bool = Field(
        False,
        description="This stage creates (and retains) API Gateway's per-region CloudWatch "
        "role (`AWS::ApiGateway::Account`); exactly one stage per account and region may.",
    )
    # faults
    lambda_fault_injection: bool = Field(
        True, description="Install AWS's FIS extension on the API Lambda (not in prod)."
    )
    # retention
    log_retention_days: Literal[7, 30, 90, 365] = 7
    backup_glacier_after_days: int | None = None
    backup_expire_after_days: int = 14
    # alarms
    alarm_email: str | None = None
    deploy_id: str | None = Field(
        None, description="Changes on every deploy so the migration trigger runs each time."
    )

    @property
    def prefix(self) -> str:
        """Prefix of every physical name: two stages never share one."""
        return f"ladder-{self.name}"

    @property
    def db_max_connections(self) -> int:
        return DB_MAX_CONNECTIONS[self.db_instance_class]

    @property
    def removal(self) -> RemovalPolicy:
        """What happens to a stateful resource when it leaves the stack."""
        return RemovalPolicy.RETAIN if self.retain_data else RemovalPolicy.DESTROY

    @property
    def log_retention(self) -> logs.RetentionDays:
        return {
            7: logs.RetentionDays.ONE_WEEK,
            30: logs.RetentionDays.ONE_MONTH,
            90: logs.RetentionDays.THREE_MONTHS,
            365: logs.RetentionDays.ONE_YEAR,
        }[self.log_retention_days]

    @classmethod
    def for_stage(cls, name: str, **context: str | None) -> StageConfig:
        if not STAGE_PATTERN.match(name or ""):
            raise ValueError(
                f"stage must be prod, staging or pr-<number>, not {name!r} (-c stage=…)"
            )
        given = {k: v for k, v in context.items() if v}
        if name == "prod":
            if not given.get("certificate_arn"):
                raise ValueError(
                    "prod's stream listener is HTTPS only: pass -c certificate_arn=<ACM ARN> "
                    "(make synth passes an example ARN for its offline check)"
                )
            given.setdefault("owns_api_gateway_account", True)
            return cls(
                name=name,
                retain_data=True,
                nat_gateways=2,
                db_instance_class="r7g.large",
                db_allocated_gib=100,
                db_max_allocated_gib=1000,
                db_multi_az=True,
                db_backup_days=35,
                cache_node_type="cache.r7g.large",
                cache_nodes=2,
                job_memory_mb=4096,
                job_max_concurrency=10,
                api_reserved_concurrency=200,
                api_rate_limit=1000,
                api_burst_limit=2000,
                stream_cpu=1024,
                stream_memory_mb=2048,
                stream_min_tasks=2,
                stream_max_tasks=10,
                log_retention_days=365,
                lambda_fault_injection=False,
                backup_glacier_after_days=30,
                backup_expire_after_days=365,
                **given,
            )
        if name == "staging":
            return cls(
                name=name,
                retain_data=True,
                db_instance_class="t4g.medium",
                cache_node_type="cache.t4g.small",
                cache_nodes=2,
                stream_max_tasks=4,
                api_reserved_concurrency=50,
                log_retention_days=30,
                backup_expire_after_days=30,
                **given,
            )
        return cls(name=name, **given)

    @property
    def failover(self) -> bool:
        """Redis fails over automatically when it has a replica to fail over to."""
        return self.cache_nodes > 1
