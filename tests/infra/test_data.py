"""Postgres behind RDS Proxy with IAM auth, Redis with TLS and AUTH: no password anywhere."""

import re

from infra.config import DB_PORT, REDIS_PORT


def test_postgres_is_encrypted_on_a_non_default_port_with_pitr(prod, preview):
    for stage, days in ((prod, 35), (preview, 7)):
        db = stage.props("AWS::RDS::DBInstance")
        assert db["StorageEncrypted"] is True
        assert "KmsKeyId" in db
        assert db["Port"] == str(DB_PORT) != "5432"
        assert db["BackupRetentionPeriod"] == days  # automated backups = PITR window
        assert db["Engine"] == "postgres"
        assert "EnablePerformanceInsights" in db
    assert prod.props("AWS::RDS::DBInstance")["MultiAZ"] is True
    assert prod.props("AWS::RDS::DBInstance")["DeletionProtection"] is True
    assert preview.props("AWS::RDS::DBInstance")["MultiAZ"] is False
    assert preview.props("AWS::RDS::DBInstance")["DeletionProtection"] is False


def test_postgres_requires_tls(stage):
    assert stage.props("AWS::RDS::DBParameterGroup")["Parameters"]["rds.force_ssl"] == "1"


def test_the_proxy_requires_iam_auth_end_to_end_and_tls(stage):
    proxy = stage.props("AWS::RDS::DBProxy")
    assert proxy["RequireTLS"] is True
    assert proxy["DefaultAuthScheme"] == "IAM_AUTH"  # no per-user secrets, no passwords
    assert "Auth" not in proxy
    assert proxy["EngineFamily"] == "POSTGRESQL"
    role = stage.template["Resources"][proxy["RoleArn"]["Fn::GetAtt"][0]]
    (policy,) = [
        p
        for p in stage.resources("AWS::IAM::Policy").values()
        if {"Ref": proxy["RoleArn"]["Fn::GetAtt"][0]} in p["Properties"]["Roles"]
    ]
    granted = stage.text(policy)
    assert role["Properties"]["AssumeRolePolicyDocument"]
    assert "/ladder_owner" in granted
    assert "/ladder_app" in granted
    assert "ladder_admin" not in granted  # the master never goes through the proxy


def test_the_master_secret_rotates(stage):
    rotation = stage.props("AWS::SecretsManager::RotationSchedule")
    assert rotation["RotationRules"]["ScheduleExpression"] == "rate(30 days)"


def test_every_function_connects_with_iam_tokens_and_holds_no_password(stage):
    functions = stage.our_functions()
    assert len(functions) == 6
    owners = ("functions.migrate.handler", "functions.backups.drill_handler")
    for name, function in functions.items():
        env = function["Properties"]["Environment"]["Variables"]
        assert env["LADDER_DB_IAM_AUTH"] == "true", name
        url = stage.text(env["DATABASE_URL"])
        # A role, no password: the owner changes the schema, the rest only rows.
        user = "ladder_owner" if function["Properties"]["Handler"] in owners else "ladder_app"
        assert re.search(rf"postgresql://{user}@", url), url
        assert "sslmode=require" in url
        assert not any("PASSWORD" in k and "SECRET_ARN" not in k for k in env), name
        assert "{{resolve:" not in stage.text(env)
        # Encrypted with the stage's key, which the function's role may decrypt with.
        key = function["Properties"]["KmsKeyArn"]["Fn::GetAtt"][0]
        role = {"Ref": function["Properties"]["Role"]["Fn::GetAtt"][0]}
        decrypts = [
            s
            for p in stage.resources("AWS::IAM::Policy").values()
            if role in p["Properties"]["Roles"]
            for s in p["Properties"]["PolicyDocument"]["Statement"]
            if "kms:Decrypt" in s["Action"] and key in stage.text(s["Resource"])
        ]
        assert decrypts, name
    policies = stage.text(stage.resources("AWS::IAM::Policy"))
    assert policies.count('"rds-db:connect"') >= len(functions) + 1  # + the stream task


def test_redis_has_tls_encryption_at_rest_and_an_auth_token_from_secrets_manager(stage):
    redis = stage.props("AWS::ElastiCache::ReplicationGroup")
    assert redis["TransitEncryptionEnabled"] is True
    assert redis["AtRestEncryptionEnabled"] is True
    assert "{{resolve:secretsmanager:" in stage.text(redis["AuthToken"])
    assert redis["Port"] == REDIS_PORT


def test_redis_fails_over_automatically_in_prod(prod, preview):
    assert prod.props("AWS::ElastiCache::ReplicationGroup")["AutomaticFailoverEnabled"] is True
    assert prod.props("AWS::ElastiCache::ReplicationGroup")["NumCacheClusters"] == 2
    assert preview.props("AWS::ElastiCache::ReplicationGroup")["AutomaticFailoverEnabled"] is False


def test_the_database_admits_the_proxy_and_the_relays_only(stage):
    ingress = [r["Properties"] for r in stage.resources("AWS::EC2::SecurityGroupIngress").values()]
    sources = {  # logical ids without their 8-character hash
        r["SourceSecurityGroupId"]["Fn::GetAtt"][0][:-8]
        for r in ingress
        if r["FromPort"] == DB_PORT
    }
    assert sources == {"DataProxySg", "DataRelays", "RealtimeTasksSg"}
    assert all("CidrIp" not in r for r in ingress if r["FromPort"] in (DB_PORT, 5432, REDIS_PORT))


def test_relays_reach_the_instance_with_iam_tokens_as_the_relay_user(stage):
    relays = [
        f["Properties"]["Environment"]["Variables"]
        for f in stage.our_functions().values()
        if "RELAY_DATABASE_URL" in f["Properties"]["Environment"]["Variables"]
    ]
    assert len(relays) == 1  # the sweeper
    url = stage.text(relays[0]["RELAY_DATABASE_URL"])
    assert "postgresql://ladder_relay@" in url
    assert "Endpoint.Address" in url  # the instance, not the proxy
    assert f":{DB_PORT}/ladder?sslmode=require" in url
    assert stage.props("AWS::RDS::DBInstance")["EnableIAMDatabaseAuthentication"] is True
    assert stage.text(stage.resources("AWS::IAM::Policy")).count("dbuser:") >= 2
