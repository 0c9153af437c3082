"""The backup bucket and the least privileges of the backup and drill functions."""


def _bucket(stage):
    """The backup bucket: the one encrypted with the stage's key."""
    return next(
        b["Properties"]
        for b in stage.resources("AWS::S3::Bucket").values()
        if '"aws:kms"' in stage.text(b["Properties"].get("BucketEncryption"))
    )


def test_the_bucket_is_versioned_kms_private_logged(stage):
    bucket = _bucket(stage)
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    (rule,) = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    assert "DestinationBucketName" in bucket["LoggingConfiguration"]


def test_every_bucket_refuses_plain_http(stage):
    policies = stage.resources("AWS::S3::BucketPolicy")
    assert len(policies) == len(stage.resources("AWS::S3::Bucket"))
    for policy in policies.values():
        assert '"aws:SecureTransport": "false"' in stage.text(policy)


def test_prod_moves_backups_to_glacier_after_30_days_and_expires_them_after_365(prod, preview):
    (rule,) = _bucket(prod)["LifecycleConfiguration"]["Rules"]
    assert rule["Transitions"] == [{"StorageClass": "GLACIER", "TransitionInDays": 30}]
    assert rule["ExpirationInDays"] == 365
    (rule,) = _bucket(preview)["LifecycleConfiguration"]["Rules"]
    assert "Transitions" not in rule
    assert rule["ExpirationInDays"] == 14


def _statements(stage, handler):
    functions = stage.our_functions()
    (role,) = (
        f["Properties"]["Role"]["Fn::GetAtt"][0]
        for f in functions.values()
        if f["Properties"]["Handler"] == handler
    )
    return [
        s
        for p in stage.resources("AWS::IAM::Policy").values()
        if {"Ref": role} in p["Properties"]["Roles"]
        for s in p["Properties"]["PolicyDocument"]["Statement"]
    ]


def _s3_actions(statements, key_pattern):
    actions = set()
    for s in statements:
        if key_pattern in str(s["Resource"]):
            acts = s["Action"] if isinstance(s["Action"], list) else [s["Action"]]
            actions |= {a for a in acts if a.startswith("s3:")}
    return actions


def test_the_backup_writes_and_prunes_backups_only(stage):
    statements = _statements(stage, "functions.backups.backup_handler")
    assert _s3_actions(statements, "/backups/*") == {
        "s3:GetObject",
        "s3:PutObject",
        "s3:DeleteObject",
        "s3:AbortMultipartUpload",
    }
    assert _s3_actions(statements, "/drills/*") == set()
    assert not any("s3:*" in str(s["Action"]) for s in statements)


def test_the_drill_reads_backups_and_writes_only_drill_records(stage):
    statements = _statements(stage, "functions.backups.drill_handler")
    assert _s3_actions(statements, "/backups/*") == {"s3:GetObject"}
    assert _s3_actions(statements, "/drills/*") == {"s3:PutObject"}
    assert "s3:DeleteObject" not in stage.text(statements)
