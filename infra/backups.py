"""The backup bucket and the backup and drill Lambdas.

The bucket: versioned, KMS, public access blocked, TLS only, server access
logs, and a lifecycle (Glacier after 30 days and expiry after 365 in prod;
previews keep two weeks). The functions get only what they do: the backup
writes and prunes `backups/`, the drill reads `backups/` and writes `drills/`.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra.config import StageConfig
from infra.lambdas import LambdaKit
from infra.nag import acknowledge, logical_id, skip_scan


def access_log_bucket(scope: Construct, config: StageConfig) -> s3.Bucket:
    """Where the backup bucket and the load balancer write their access logs."""
    bucket = s3.Bucket(
        scope,
        "AccessLogs",
        encryption=s3.BucketEncryption.S3_MANAGED,  # log delivery cannot use a KMS key
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        enforce_ssl=True,
        versioned=True,  # an overwritten or deleted log stays recoverable for a while
        object_ownership=s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
        lifecycle_rules=[
            s3.LifecycleRule(
                expiration=Duration.days(90), noncurrent_version_expiration=Duration.days(30)
            )
        ],
        removal_policy=config.removal,
        auto_delete_objects=not config.retain_data,
    )
    skip_scan(
        bucket,
        "CKV_AWS_18",
        "This is the access-log bucket; logging it into itself would loop.",
    )
    return bucket


class Backups(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        config: StageConfig,
        key: kms.IKey,
        access_logs: s3.IBucket,
    ) -> None:
        super().__init__(scope, id)
        lifecycle = [
            s3.LifecycleRule(
                id="backups",
                transitions=[
                    s3.Transition(
                        storage_class=s3.StorageClass.GLACIER,
                        transition_after=Duration.days(config.backup_glacier_after_days),
                    )
                ]
                if config.backup_glacier_after_days
                else None,
                expiration=Duration.days(config.backup_expire_after_days),
                noncurrent_version_expiration=Duration.days(30),
                abort_incomplete_multipart_upload_after=Duration.days(1),
            )
        ]
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            versioned=True,
            encryption=s3.BucketEncryption.KMS,
            encryption_key=key,
            bucket_key_enabled=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            server_access_logs_bucket=access_logs,
            server_access_logs_prefix="backups-bucket/",
            lifecycle_rules=lifecycle,
            removal_policy=config.removal,
            auto_delete_objects=not config.retain_data,
        )
        self.key = key
        self.environment = {
            "LADDER_BACKUP_BUCKET": self.bucket.bucket_name,
            "LADDER_BACKUP_KMS_KEY_ID": key.key_arn,
        }

    def add_functions(self, kit: LambdaKit, *, config: StageConfig) -> None:
        self.backup = kit.function(
            "Backup",
            handler="functions.backups.backup_handler",
            description="ladder nightly backup and retention",
            memory_mb=config.backup_memory_mb,
            timeout=Duration.minutes(15),
            async_invoked=True,
            reserved_concurrent_executions=1,
        )
        self.drill = kit.function(
            "RestoreDrill",
            handler="functions.backups.drill_handler",
            description="ladder weekly restore drill into a scratch database",
            memory_mb=config.backup_memory_mb,
            timeout=Duration.minutes(15),
            async_invoked=True,
            reserved_concurrent_executions=1,
        )
        self.grant_backup(self.backup)
        self.grant_read(self.drill)
        self.allow(self.drill, ["s3:PutObject"], "drills/*")

    def allow(self, grantee: iam.IGrantable, actions: list[str], objects: str | None) -> None:
        """`actions` on `objects` (a key pattern) or, if None, on the bucket itself."""
        resource = self.bucket.arn_for_objects(objects) if objects else self.bucket.bucket_arn
        grantee.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(actions=actions, resources=[resource])
        )
        if objects:
            acknowledge(
                grantee.grant_principal,
                f"AwsSolutions::AwsSolutions-IAM5[Resource::<{logical_id(self.bucket)}.Arn>/{objects}]",
                f"Backup objects are created under {objects} with names chosen at run time.",
            )

    def grant_backup(self, grantee: iam.IGrantable) -> None:
        """Write backups, read manifests (retention, listing), delete expired ones."""
        self.allow(grantee, ["s3:ListBucket"], None)
        self.allow(
            grantee,
            ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"],
            "backups/*",
        )
        self.key.grant_encrypt_decrypt(grantee)

    def grant_read(self, grantee: iam.IGrantable) -> None:
        """List backups and read them (restores, drills, `GET /v1/admin/backups`)."""
        self.allow(grantee, ["s3:ListBucket"], None)
        self.allow(grantee, ["s3:GetObject"], "backups/*")
        self.key.grant_encrypt_decrypt(grantee)
