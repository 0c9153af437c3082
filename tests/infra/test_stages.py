"""Stages: prod keeps its data, previews are disposable and never collide."""

import pytest

from infra.config import StageConfig

STATEFUL = (
    "AWS::RDS::DBInstance",
    "AWS::S3::Bucket",
    "AWS::KMS::Key",
    "AWS::Logs::LogGroup",
    "AWS::Cognito::UserPool",
    "AWS::SQS::Queue",
    "AWS::ElastiCache::ReplicationGroup",
)

# Properties that carry a physical name, by resource type.
PHYSICAL_NAMES = {
    "AWS::S3::Bucket": "BucketName",
    "AWS::SQS::Queue": "QueueName",
    "AWS::Lambda::Function": "FunctionName",
    "AWS::Logs::LogGroup": "LogGroupName",
    "AWS::RDS::DBInstance": "DBInstanceIdentifier",
    "AWS::RDS::DBProxy": "DBProxyName",
    "AWS::ElastiCache::ReplicationGroup": "ReplicationGroupId",
    "AWS::ECS::Cluster": "ClusterName",
    "AWS::Cognito::UserPoolDomain": "Domain",
    "AWS::APS::Workspace": "Alias",
    "AWS::WAFv2::WebACL": "Name",
    "AWS::CloudWatch::Dashboard": "DashboardName",
    "AWS::SNS::Topic": "TopicName",
    "AWS::Scheduler::Schedule": "Name",
    "AWS::IAM::Role": "RoleName",
    "AWS::SecretsManager::Secret": "Name",
    "AWS::ApiGateway::RestApi": "Name",
    "AWS::ElasticLoadBalancingV2::LoadBalancer": "Name",
}


def test_prod_retains_every_stateful_resource(prod):
    for kind in STATEFUL:
        for key, resource in prod.resources(kind).items():
            assert resource.get("DeletionPolicy") in ("Retain", "Snapshot"), key


def test_previews_destroy_every_stateful_resource(preview):
    for kind in STATEFUL:
        for key, resource in preview.resources(kind).items():
            assert resource.get("DeletionPolicy", "Delete") == "Delete", key
    buckets = preview.resources("AWS::S3::Bucket")
    assert len(preview.resources("Custom::S3AutoDeleteObjects")) == len(buckets)  # emptied first


def _names(stage) -> dict[str, str]:
    return {
        key: stage.text(r["Properties"][PHYSICAL_NAMES[r["Type"]]])
        for key, r in stage.template["Resources"].items()
        if PHYSICAL_NAMES.get(r["Type"]) in r.get("Properties", {})
    }


def test_two_previews_share_no_physical_name(preview, other_preview):
    assert preview.template.keys() == other_preview.template.keys()
    names, others = _names(preview), _names(other_preview)
    assert names  # the test looks at something
    for key, name in names.items():
        assert "ladderpr7" in name.replace("-", "").lower(), (key, name)
        assert name not in others.values(), (key, name)


@pytest.mark.parametrize("name", ["dev", "pr-", "pr-x", "PROD", "pr-1234567", ""])
def test_unknown_stages_are_refused(name):
    with pytest.raises(ValueError, match="stage must be"):
        StageConfig.for_stage(name)


def test_previews_are_small(preview, prod):
    assert preview.props("AWS::RDS::DBInstance")["DBInstanceClass"] == "db.t4g.micro"
    assert prod.props("AWS::RDS::DBInstance")["DBInstanceClass"] == "db.r7g.large"
    assert len(preview.resources("AWS::EC2::NatGateway")) == 1
    assert len(prod.resources("AWS::EC2::NatGateway")) == 2
