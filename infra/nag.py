"""cdk-nag 3 runs as a validation plugin: findings fail `app.synth()`.

Each acknowledgement names one exact finding and why it is acceptable, and is
attached to the construct it concerns (never to the whole app).
"""

from __future__ import annotations

from aws_cdk import Acknowledgment, App, Validations
from cdk_nag import AwsSolutionsChecks, ServerlessChecks
from constructs import IConstruct


def add_checks(app: App) -> None:
    Validations.of(app).add_plugins(
        AwsSolutionsChecks(app, verbose=True), ServerlessChecks(app, verbose=True)
    )


def acknowledge_dead_letter_queue(
    queue: IConstruct, whose: str, *, unrecognized: bool = False
) -> None:
    """A DLQ has no DLQ of its own. The Serverless pack asks for one anyway; AwsSolutions
    too (`unrecognized`) when no queue or function in the stack names it as its DLQ."""
    findings = ["Serverless::Serverless-SQSRedrivePolicy"]
    if unrecognized:
        findings.append("AwsSolutions::AwsSolutions-SQS3")
    for finding in findings:
        acknowledge(queue, finding, f"This is {whose} dead-letter queue.")


def acknowledge(construct: IConstruct, finding: str, reason: str) -> None:
    """`finding` as the report prints it, e.g. `AwsSolutions::AwsSolutions-IAM5[Action::s3:*]`."""
    Validations.of(construct).acknowledge(Acknowledgment(id=finding, reason=reason))
