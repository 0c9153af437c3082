"""Postgres (RDS, behind RDS Proxy with IAM auth and TLS) and Redis (ElastiCache).

- The instance: KMS-encrypted, a non-default port, automated backups with
  point-in-time recovery (35 days in prod, 7 elsewhere), Multi-AZ and
  deletion protection where the stage keeps its data, `rds.force_ssl`.
- Roles (`ladder.db.roles`): the master user's secret rotates and only the
  deploy's bootstrap reads it, to create `ladder_owner` (migrations, the
  restore drill), `ladder_app` (rows only: the API, the worker, the backup,
  the stream service) and `ladder_relay`. All three sign in with IAM tokens,
  so no password is in any environment (`ladder.credentials`): through the
  proxy, which authenticates to the instance with IAM too (end-to-end IAM,
  no per-user secrets), and, for the relay (which holds an advisory lock and
  LISTENs, and would pin a proxied connection), straight to the instance.
- Connections are budgeted: `max_connections` is explicit per instance
  class, the proxy may use a fixed share of it and lends a connection for at
  most `PROXY_BORROW_TIMEOUT`; tests/infra/test_connection_budget.py checks
  that everything that connects fits.
- Redis: a replication group with TLS, encryption at rest, an AUTH token
  generated into Secrets Manager, and automatic failover when it has a replica.
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_elasticache as elasticache
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_rds as rds
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from infra.config import (
    DB_ADMIN_USER,
    DB_APP_USER,
    DB_NAME,
    DB_OWNER_USER,
    DB_PORT,
    DB_RELAY_USER,
    PROXY_PORT,
    REDIS_PORT,
    StageConfig,
)
from infra.nag import acknowledge, skip_scan
from infra.network import Network

ENGINE = rds.DatabaseInstanceEngine.postgres(version=rds.PostgresEngineVersion.VER_17_6)
# How long the proxy waits for a free database connection before failing the
# client's connect: below the functions' LADDER_DB_CONNECT_TIMEOUT (5 s), so the
# proxy's error, not a client-side timeout, reaches the app (a 503).
PROXY_BORROW_TIMEOUT = Duration.seconds(4)


class Data(Construct):
    def __init__(
        self, scope: Construct, id: str, *, config: StageConfig, network: Network, key: kms.IKey
    ) -> None:
        super().__init__(scope, id)
        vpc = network.vpc
        self.clients = ec2.SecurityGroup(
            self,
            "Clients",
            vpc=vpc,
            description="Lambdas and tasks using the database and Redis",
        )
        proxy_sg = ec2.SecurityGroup(self, "ProxySg", vpc=vpc, description="RDS Proxy")
        db_sg = ec2.SecurityGroup(self, "DatabaseSg", vpc=vpc, description="RDS instance")
        redis_sg = ec2.SecurityGroup(
            self, "RedisSg", vpc=vpc, description="ElastiCache", allow_all_outbound=False
        )
        self._proxy_sg, self._redis_sg = proxy_sg, redis_sg
        self.admit(self.clients)
        db_sg.add_ingress_rule(proxy_sg, ec2.Port.tcp(DB_PORT), "the proxy to the database")

        parameters = rds.ParameterGroup(
            self,
            "Parameters",
            engine=ENGINE,
            parameters={
                "rds.force_ssl": "1",
                "log_min_duration_statement": "1000",
                "max_connections": str(config.db_max_connections),
            },
        )
        self.instance = rds.DatabaseInstance(
            self,
            "Postgres",
            engine=ENGINE,
            instance_type=ec2.InstanceType(config.db_instance_class),
            vpc=vpc,
            vpc_subnets=network.data_subnets,
            security_groups=[db_sg],
            port=DB_PORT,
            database_name=DB_NAME,
            credentials=rds.Credentials.from_generated_secret(DB_ADMIN_USER, encryption_key=key),
            parameter_group=parameters,
            storage_encrypted=True,
            storage_encryption_key=key,
            allocated_storage=config.db_allocated_gib,
            max_allocated_storage=config.db_max_allocated_gib,
            storage_type=rds.StorageType.GP3,
            multi_az=config.db_multi_az,
            deletion_protection=config.retain_data,
            backup_retention=Duration.days(config.db_backup_days),
            delete_automated_backups=not config.retain_data,
            removal_policy=RemovalPolicy.SNAPSHOT if config.retain_data else RemovalPolicy.DESTROY,
            cloudwatch_logs_exports=["postgresql", "upgrade"],
            cloudwatch_logs_retention=config.log_retention,
            enable_performance_insights=True,
            performance_insight_encryption_key=key,
            monitoring_interval=Duration.seconds(60),
            auto_minor_version_upgrade=True,
            copy_tags_to_snapshot=True,
            iam_authentication=True,  # every ladder role signs in with IAM tokens
        )
        self.secret = self.instance.secret
        acknowledge(
            self.instance.node.find_child("MonitoringRole"),
            "AwsSolutions::AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/"
            "service-role/AmazonRDSEnhancedMonitoringRole]",
            "AWS's policy for RDS Enhanced Monitoring: publish OS metrics, nothing else.",
        )
        if not config.db_multi_az:
            single_az = "A preview runs one instance to stay small; prod is Multi-AZ."
            acknowledge(self.instance, "AwsSolutions::AwsSolutions-RDS3", single_az)
            skip_scan(self.instance, "CKV_AWS_157", single_az)
        if not config.retain_data:
            acknowledge(
                self.instance,
                "AwsSolutions::AwsSolutions-RDS10",
                "A preview is destroyed with its pull request; prod has deletion protection.",
            )
        self.instance.add_rotation_single_user(
            automatically_after=Duration.days(config.db_rotation_days),
            vpc_subnets=network.app_subnets,
            exclude_characters=" %+~`#$&*()|[]{}:;<>?!'/@\"\\",
        )
        # End-to-end IAM: the proxy signs in to the instance as each role itself.
        proxy_role = iam.Role(
            self, "ProxyRole", assumed_by=iam.ServicePrincipal("rds.amazonaws.com")
        )
        for user in (DB_OWNER_USER, DB_APP_USER):
            self.instance.grant_connect(proxy_role, user)
        self.proxy = rds.DatabaseProxy(
            self,
            "Proxy",
            role=proxy_role,
            proxy_target=rds.ProxyTarget.from_instance(self.instance),
            default_auth_scheme=rds.DefaultAuthScheme.IAM_AUTH,  # no per-user secrets
            vpc=vpc,
            vpc_subnets=network.data_subnets,
            security_groups=[proxy_sg],
            iam_auth=True,
            require_tls=True,
            debug_logging=False,
            max_connections_percent=config.proxy_max_connections_percent,
            borrow_timeout=PROXY_BORROW_TIMEOUT,
        )
        self.relay_database_url = self._url(self.instance.db_instance_endpoint_address, DB_PORT)
        self.relays = ec2.SecurityGroup(
            self, "Relays", vpc=vpc, description="Lambdas that relay: straight to the database"
        )
        self._db_sg = db_sg
        self.admit(self.relays, relay=True)

        self.redis_token = secretsmanager.Secret(
            self,
            "RedisToken",
            description="ElastiCache AUTH token",
            encryption_key=key,
            generate_secret_string=secretsmanager.SecretStringGenerator(
                exclude_punctuation=True, password_length=64
            ),
            removal_policy=RemovalPolicy.DESTROY,
        )
        acknowledge(
            self.redis_token,
            "AwsSolutions::AwsSolutions-SMG4",
            "An ElastiCache AUTH token changes through ModifyReplicationGroup with the "
            "ROTATE strategy, which Secrets Manager rotation does not drive; rotate it by "
            "replacing the secret value and redeploying (runbook).",
        )
        subnets = elasticache.CfnSubnetGroup(
            self,
            "RedisSubnets",
            description="ladder Redis",
            subnet_ids=vpc.select_subnets(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED).subnet_ids,
        )
        self.redis = elasticache.CfnReplicationGroup(
            self,
            "Redis",
            replication_group_description=f"{config.prefix} cache and event stream",
            engine="redis",
            engine_version="7.1",
            cache_node_type=config.cache_node_type,
            num_cache_clusters=config.cache_nodes,
            automatic_failover_enabled=config.failover,
            multi_az_enabled=config.failover,
            port=REDIS_PORT,
            cache_subnet_group_name=subnets.ref,
            security_group_ids=[redis_sg.security_group_id],
            transit_encryption_enabled=True,
            at_rest_encryption_enabled=True,
            kms_key_id=key.key_id,
            auth_token=self.redis_token.secret_value.unsafe_unwrap(),
            snapshot_retention_limit=1,
            auto_minor_version_upgrade=True,
        )
        self.redis.apply_removal_policy(config.removal)
        if not config.failover:
            acknowledge(
                self.redis,
                "AwsSolutions::AwsSolutions-AEC4",
                "Previews run one cache node to stay small; Redis holds only a cache and the "
                "recent event stream, both rebuilt from Postgres.",
            )
        self.redis_url = f"rediss://{self.redis.attr_primary_end_point_address}:{REDIS_PORT}/0"

    @staticmethod
    def _url(host: str, port: int, user: str = DB_RELAY_USER) -> str:
        return f"postgresql://{user}@{host}:{port}/{DB_NAME}?sslmode=require"

    def proxy_url(self, user: str) -> str:
        return self._url(self.proxy.endpoint, PROXY_PORT, user)

    def admit(self, clients: ec2.ISecurityGroup, *, relay: bool = False) -> None:
        """Let members of `clients` reach the proxy and Redis (relays: the instance)."""
        if relay:
            self._db_sg.add_ingress_rule(clients, ec2.Port.tcp(DB_PORT), "relays to the database")
            return
        self._proxy_sg.add_ingress_rule(clients, ec2.Port.tcp(PROXY_PORT), "clients to the proxy")
        self._redis_sg.add_ingress_rule(clients, ec2.Port.tcp(REDIS_PORT), "clients to Redis")

    def grant_relay(self, grantee: iam.IGrantable) -> None:
        """IAM authentication to the instance itself as the relay user."""
        self.instance.grant_connect(grantee, DB_RELAY_USER)

    def connect(self, function: lambda_.Function, user: str) -> None:
        """`function` reaches the database through the proxy as `user` (IAM), and Redis."""
        function.add_environment("DATABASE_URL", self.proxy_url(user))
        self.proxy.grant_connect(function, user)
        self.redis_token.grant_read(function)

    def grant_bootstrap(self, grantee: iam.IGrantable) -> None:
        """Read the master user's secret (the deploy's role bootstrap, straight to the instance)."""
        self.secret.grant_read(grantee)
