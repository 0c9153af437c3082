"""cdk-nag 3 runs as a validation plugin: findings fail `app.synth()`.

Each acknowledgement names one exact finding and why it is acceptable, and is
attached to the construct it concerns (never to the whole app).
"""

from __future__ import annotations

from aws_cdk import Acknowledgment, App, Stack, Validations
from cdk_nag import AwsSolutionsChecks, ServerlessChecks
from constructs import IConstruct


def add_checks(app: App) -> None:
    Validations.of(app).add_plugins(
        AwsSolutionsChecks(app, verbose=True), ServerlessChecks(app, verbose=True)
    )


def acknowledge(construct: IConstruct, finding: str, reason: str) -> None:
    """`finding` as the report prints it, e.g. `AwsSolutions::AwsSolutions-IAM5[Action::s3:*]`."""
    Validations.of(construct).acknowledge(Acknowledgment(id=finding, reason=reason))


def logical_id(construct: IConstruct) -> str:
    """The CloudFormation id of `construct`'s resource, as findings name it (`<id.Arn>`)."""
    return Stack.of(construct).get_logical_id(construct.node.default_child)
