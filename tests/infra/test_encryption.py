"""The stage's key and topic name their AWS service callers narrowly; every log group is
encrypted with the key."""


def service_statements(stage):
    for key, resource in stage.template["Resources"].items():
        if resource["Type"] in ("AWS::KMS::Key", "AWS::SNS::TopicPolicy"):
            props = resource["Properties"]
            for statement in (props.get("KeyPolicy") or props["PolicyDocument"])["Statement"]:
                if "Service" in statement.get("Principal", {}):
                    yield key, statement


def test_service_principals_carry_source_conditions(stage):
    statements = list(service_statements(stage))
    assert len(statements) >= 5
    for key, statement in statements:
        conditions = stage.text(statement.get("Condition", {}))
        if "logs." in stage.text(statement["Principal"]):
            # CloudWatch Logs names the log group in the encryption context instead.
            assert "kms:EncryptionContext:aws:logs:arn" in conditions, key
            continue
        assert "aws:SourceAccount" in conditions, (key, statement)
        assert "aws:SourceArn" in conditions, (key, statement)


def test_every_log_group_is_encrypted_with_the_stage_key(stage):
    groups = stage.resources("AWS::Logs::LogGroup")
    assert len(groups) >= 10
    (key,) = stage.resources("AWS::KMS::Key")
    for name, group in groups.items():
        assert group["Properties"]["KmsKeyId"] == {"Fn::GetAtt": [key, "Arn"]}, name
