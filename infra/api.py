"""The public API: Cognito for machine clients, the API Lambda behind a regional
REST API with WAF, access logs, throttling and tracing.

- Cognito: a user pool with a resource server `ladder` whose scopes are
  `write` and `admin` (tokens carry `ladder/write`, which the app reads as
  `ladder:write`), and two client-credentials app clients: game servers may
  only get `ladder/write`, operators `ladder/write ladder/admin` (Cognito
  grants every allowed scope when a request names none, so the split is what
  keeps admin from game servers). The app accepts access tokens from these
  two clients only and admin only from the operators' (`LADDER_JWT_*`); it
  verifies them against the pool's JWKS (`LADDER_AUTH_MODE=jwks`), so API
  Gateway passes every request through: reads are public and each write
  route checks its own scope.
- API Gateway's CloudWatch role is one per account and region
  (`AWS::ApiGateway::Account`): only the stage that `owns_api_gateway_account`
  (prod) creates it, and retains it, so deleting a preview never breaks
  another stage's logging (aws-cdk issues 10878, 22954).
- The API Lambda runs with SnapStart on a published version behind the
  `live` alias; `functions/api.py` drops connections after a restore.
"""

from __future__ import annotations

from aws_cdk import Aws, Duration, RemovalPolicy
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

from infra.config import StageConfig
from infra.encryption import log_group
from infra.lambdas import LambdaKit
from infra.nag import acknowledge, skip_scan

MANAGED_RULE_GROUPS = (
    "AWSManagedRulesCommonRuleSet",
    "AWSManagedRulesKnownBadInputsRuleSet",
    "AWSManagedRulesAmazonIpReputationList",
)
SCOPES = {"write": "Record players and matches", "admin": "Operate jobs, queues and backups"}
# Scopes per app client: game servers report, operators also administer.
CLIENT_SCOPES = {"GameServer": ("write",), "Operator": ("write", "admin")}


class Auth(Construct):
    def __init__(self, scope: Construct, id: str, *, config: StageConfig) -> None:
        super().__init__(scope, id)
        self.user_pool = cognito.UserPool(
            self,
            "Clients",
            self_sign_up_enabled=False,
            sign_in_aliases=cognito.SignInAliases(username=True),
            password_policy=cognito.PasswordPolicy(
                min_length=14,
                require_digits=True,
                require_lowercase=True,
                require_uppercase=True,
                require_symbols=True,
            ),
            mfa=cognito.Mfa.REQUIRED,
            mfa_second_factor=cognito.MfaSecondFactor(sms=False, otp=True),
            account_recovery=cognito.AccountRecovery.NONE,
            removal_policy=config.removal,
        )
        acknowledge(
            self.user_pool,
            "AwsSolutions::AwsSolutions-COG8",
            "The Plus plan's features (threat protection, passwordless) are for users; "
            "this pool has only machine clients.",
        )
        scopes = {
            name: cognito.ResourceServerScope(scope_name=name, scope_description=text)
            for name, text in SCOPES.items()
        }
        self.resource_server = self.user_pool.add_resource_server(
            "Ladder", identifier="ladder", scopes=list(scopes.values())
        )
        self.domain = self.user_pool.add_domain(
            "Domain",
            cognito_domain=cognito.CognitoDomainOptions(
                domain_prefix=f"{config.prefix}-{Aws.ACCOUNT_ID}"
            ),
        )
        self.clients = {
            name: self.user_pool.add_client(
                name,
                generate_secret=True,
                auth_flows=cognito.AuthFlow(),
                o_auth=cognito.OAuthSettings(
                    flows=cognito.OAuthFlows(client_credentials=True),
                    scopes=[
                        cognito.OAuthScope.resource_server(self.resource_server, scopes[scope])
                        for scope in allowed
                    ],
                ),
                access_token_validity=Duration.hours(1),
                prevent_user_existence_errors=True,
            )
            for name, allowed in CLIENT_SCOPES.items()
        }
        self.game_server_client = self.clients["GameServer"]
        self.operator_client = self.clients["Operator"]
        # What the app reads (ladder.settings): which clients it accepts, and whose admin.
        self.environment = {
            "LADDER_AUTH_MODE": "jwks",
            "LADDER_JWT_CLIENT_IDS": ",".join(c.user_pool_client_id for c in self.clients.values()),
            "LADDER_JWT_ADMIN_CLIENT_IDS": self.operator_client.user_pool_client_id,
        }
        # ProviderURL has no scheme; tokens' `iss` is https://cognito-idp.<region>…/<pool id>.
        self.issuer = f"https://{self.user_pool.user_pool_provider_url}"
        self.environment["LADDER_JWT_ISSUER"] = self.issuer
        self.token_url = f"{self.domain.base_url()}/oauth2/token"


class Api(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        config: StageConfig,
        kit: LambdaKit,
        auth: Auth,
        cors_origin: str,
    ) -> None:
        super().__init__(scope, id)
        self.function = kit.function(
            "Handler",
            handler="functions.api.handler",
            description="ladder HTTP API (FastAPI via Mangum)",
            memory_mb=config.api_memory_mb,
            timeout=Duration.seconds(29),
            # The live page, served by the stream service, reads the API from browsers.
            environment={"LADDER_CORS_ORIGINS": cors_origin, "LADDER_REQUEST_METRICS": "true"},
            snap_start=lambda_.SnapStartConf.ON_PUBLISHED_VERSIONS,
            # Bounds its connections (the budget) and keeps a flood from starving the rest.
            reserved_concurrent_executions=config.api_reserved_concurrency,
        )
        self.alias = lambda_.Alias(
            self, "Live", alias_name="live", version=self.function.current_version
        )
        access_logs = log_group(self, "AccessLogs", config=config, key=kit.key)
        self.rest_api = apigw.LambdaRestApi(
            self,
            "Rest",
            handler=self.alias,
            proxy=True,
            rest_api_name=f"{config.prefix}-api",
            description=f"{config.prefix} public API",
            endpoint_types=[apigw.EndpointType.REGIONAL],
            cloud_watch_role=config.owns_api_gateway_account,
            cloud_watch_role_removal_policy=RemovalPolicy.RETAIN
            if config.owns_api_gateway_account
            else None,
            deploy_options=apigw.StageOptions(
                stage_name="live",
                tracing_enabled=True,
                logging_level=apigw.MethodLoggingLevel.ERROR,
                metrics_enabled=True,
                throttling_rate_limit=config.api_rate_limit,
                throttling_burst_limit=config.api_burst_limit,
                access_log_destination=apigw.LogGroupLogDestination(access_logs),
                access_log_format=apigw.AccessLogFormat.json_with_standard_fields(
                    caller=False,
                    http_method=True,
                    ip=True,
                    protocol=True,
                    request_time=True,
                    resource_path=True,
                    response_length=True,
                    status=True,
                    user=False,
                ),
            ),
        )
        self.url = self.rest_api.url
        if config.owns_api_gateway_account:
            acknowledge(
                self.rest_api.node.find_child("CloudWatchRole"),
                "AwsSolutions::AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/"
                "service-role/AmazonAPIGatewayPushToCloudWatchLogs]",
                "AWS's policy that lets API Gateway write execution logs; nothing else.",
            )
        for finding, reason in (
            (
                "AwsSolutions::AwsSolutions-APIG2",
                "The app validates every body with pydantic and answers problem+json; API "
                "Gateway's validator would answer a different error shape.",
            ),
            (
                "AwsSolutions::AwsSolutions-APIG4",
                "Authorization is in the app: reads are public, writes check the Cognito "
                "token's scope per route against the pool's JWKS.",
            ),
            (
                "AwsSolutions::AwsSolutions-COG4",
                "Same: the app verifies Cognito tokens itself (scopes differ per route under "
                "one proxy resource).",
            ),
        ):
            acknowledge(self.rest_api, finding, reason)
        skip_scan(
            self.rest_api.deployment_stage,
            "CKV_AWS_120",
            "No API Gateway cache: reads must reflect every write at once (read-your-writes); "
            "the app caches the leaderboard in Redis and invalidates it on every change.",
        )
        for method in self.rest_api.methods:
            skip_scan(
                method,
                "CKV_AWS_59",
                "Reads are public by design; every write route verifies the Cognito token's "
                "scope in the app (cdk-nag APIG4 above).",
            )
        self.web_acl = web_acl(self, "Waf", config=config)
        wafv2.CfnWebACLAssociation(
            self,
            "WafApi",
            resource_arn=self.rest_api.deployment_stage.stage_arn,
            web_acl_arn=self.web_acl.attr_arn,
        )


def web_acl(scope: Construct, id: str, *, config: StageConfig) -> wafv2.CfnWebACL:
    """AWS managed rule groups plus a per-IP rate limit (shared by the API and the ALB)."""

    def visibility(name: str) -> wafv2.CfnWebACL.VisibilityConfigProperty:
        return wafv2.CfnWebACL.VisibilityConfigProperty(
            cloud_watch_metrics_enabled=True, metric_name=name, sampled_requests_enabled=True
        )

    rules = [
        wafv2.CfnWebACL.RuleProperty(
            name=group,
            priority=priority,
            override_action=wafv2.CfnWebACL.OverrideActionProperty(none={}),
            statement=wafv2.CfnWebACL.StatementProperty(
                managed_rule_group_statement=wafv2.CfnWebACL.ManagedRuleGroupStatementProperty(
                    vendor_name="AWS", name=group
                )
            ),
            visibility_config=visibility(group),
        )
        for priority, group in enumerate(MANAGED_RULE_GROUPS)
    ]
    rules.append(
        wafv2.CfnWebACL.RuleProperty(
            name="RatePerIp",
            priority=len(rules),
            action=wafv2.CfnWebACL.RuleActionProperty(block={}),
            statement=wafv2.CfnWebACL.StatementProperty(
                rate_based_statement=wafv2.CfnWebACL.RateBasedStatementProperty(
                    aggregate_key_type="IP", limit=config.waf_requests_per_5_min_per_ip
                )
            ),
            visibility_config=visibility("RatePerIp"),
        )
    )
    return wafv2.CfnWebACL(
        scope,
        id,
        scope="REGIONAL",
        default_action=wafv2.CfnWebACL.DefaultActionProperty(allow={}),
        visibility_config=visibility(f"{config.prefix}-waf"),
        rules=rules,
    )
