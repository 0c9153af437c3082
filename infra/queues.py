"""SQS queues as ladder makes them: KMS with the stage's key, TLS only."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.nag import acknowledge


def queue(
    scope: Construct, id: str, *, key: kms.IKey, removal: RemovalPolicy, **kwargs
) -> sqs.Queue:
    return sqs.Queue(
        scope,
        id,
        encryption=sqs.QueueEncryption.KMS,
        encryption_master_key=key,
        enforce_ssl=True,
        removal_policy=removal,
        **kwargs,
    )


def dead_letter_queue(
    scope: Construct,
    id: str,
    *,
    key: kms.IKey,
    removal: RemovalPolicy,
    whose: str,
    unrecognized: bool = False,
) -> sqs.Queue:
    """A DLQ keeping messages 14 days. It has no DLQ of its own: the Serverless pack
    asks for one anyway, and AwsSolutions too (`unrecognized`) when no queue in the
    stack names it as its DLQ."""
    dlq = queue(scope, id, key=key, removal=removal, retention_period=Duration.days(14))
    findings = ["Serverless::Serverless-SQSRedrivePolicy"]
    if unrecognized:
        findings.append("AwsSolutions::AwsSolutions-SQS3")
    for finding in findings:
        acknowledge(dlq, finding, f"This is {whose} dead-letter queue.")
    return dlq
