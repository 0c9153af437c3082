"""Template checks: cdk-nag during synth, cfn-lint and checkov over its output.

cdk-nag 3 runs as a validation plugin: findings fail `app.synth()`. cfn-lint
and checkov scan the synthesized templates (tests/infra/test_template_scans.py,
in `make test`). In all three, each exception names one exact finding and
why it is acceptable, and sits on the construct it concerns (never on the
whole app): `acknowledge` for cdk-nag, `skip_scan` for the other two, which
read their exceptions from the resource's CloudFormation metadata.
"""

from __future__ import annotations

from aws_cdk import Acknowledgment, App, CfnResource, Stack, Validations
from cdk_nag import AwsSolutionsChecks, ServerlessChecks
from constructs import IConstruct

CDK_DEPENDS_ON = (
    "CDK adds DependsOn on the role next to the GetAtt (it also waits for the role's "
    "policy): redundant for cfn-lint, harmless for CloudFormation."
)


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


def skip_scan(construct: IConstruct, check: str, reason: str) -> None:
    """Skip one cfn-lint rule (`W3005`) or checkov check (`CKV_AWS_116`) on `construct`'s
    resource, with the reason next to it."""
    resource = construct if isinstance(construct, CfnResource) else construct.node.default_child
    if check.startswith("CKV"):
        checkov = resource.get_metadata("checkov") or {"skip": []}
        checkov["skip"].append({"id": check, "comment": reason})
        resource.add_metadata("checkov", checkov)
    else:
        cfn_lint = resource.get_metadata("cfn-lint") or {"config": {"ignore_checks": []}}
        cfn_lint["config"]["ignore_checks"].append(check)
        cfn_lint.setdefault("reasons", {})[check] = reason
        resource.add_metadata("cfn-lint", cfn_lint)
