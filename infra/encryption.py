"""The stage's one KMS key, and the log groups it encrypts.

The key encrypts the database, Redis, queues, backups, secrets, the alarm
topic, Lambda environments and every log group ladder creates. AWS services
that use it on the stack's behalf are named with `aws:SourceAccount` and
`aws:SourceArn` conditions, so no other account's resource of that service
can make it use the key (the confused-deputy problem).
"""

from __future__ import annotations

from aws_cdk import Aws, Duration
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.config import StageConfig


def _arn(service: str, resource: str) -> str:
    return f"arn:{Aws.PARTITION}:{service}:{Aws.REGION}:{Aws.ACCOUNT_ID}:{resource}"


# Service principal → the stack's resources of that service that use the key:
# CloudWatch alarms and AMP's alert manager publish to the encrypted topic, SNS
# moves undelivered alarm e-mails to an encrypted queue.
SERVICES_USING_THE_KEY = {
    "cloudwatch.amazonaws.com": ("cloudwatch", "alarm:*"),
    "aps.amazonaws.com": ("aps", "workspace/*"),
    "sns.amazonaws.com": ("sns", "*"),
}


def stage_key(scope: Construct, config: StageConfig) -> kms.Key:
    key = kms.Key(
        scope,
        "Key",
        description=f"{config.prefix}: database, Redis, queues, backups, secrets, logs, alarms",
        enable_key_rotation=True,
        removal_policy=config.removal,
        pending_window=Duration.days(7),
    )
    for service, (arn_service, resource) in SERVICES_USING_THE_KEY.items():
        key.add_to_resource_policy(
            iam.PolicyStatement(
                principals=[iam.ServicePrincipal(service)],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],  # in a key policy, "*" is this key
                conditions={
                    "StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID},
                    "ArnLike": {"aws:SourceArn": _arn(arn_service, resource)},
                },
            )
        )
    # CloudWatch Logs names the log group in the encryption context instead.
    key.add_to_resource_policy(
        iam.PolicyStatement(
            principals=[iam.ServicePrincipal(f"logs.{Aws.REGION}.amazonaws.com")],
            actions=[
                "kms:Encrypt*",
                "kms:Decrypt*",
                "kms:ReEncrypt*",
                "kms:GenerateDataKey*",
                "kms:Describe*",
            ],
            resources=["*"],
            conditions={
                "ArnLike": {"kms:EncryptionContext:aws:logs:arn": _arn("logs", "log-group:*")}
            },
        )
    )
    return key


def log_group(scope: Construct, id: str, *, config: StageConfig, key: kms.IKey) -> logs.LogGroup:
    """A log group with the stage's retention and removal, encrypted with its key."""
    return logs.LogGroup(
        scope,
        id,
        retention=config.log_retention,
        removal_policy=config.removal,
        encryption_key=key,
    )
