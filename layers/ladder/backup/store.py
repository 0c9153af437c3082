"""Backup objects in S3: streamed multipart uploads with a running SHA-256.

Parts are 8 MiB, so memory stays bounded whatever the table's size; a
failed upload is aborted, leaving nothing behind.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from typing import IO, Any

from ladder.backup.errors import CorruptObject
from ladder.settings import Settings

PART_SIZE = 8 * 1024 * 1024


def s3_client(settings: Settings):
    import boto3

    return boto3.client(
        "s3", endpoint_url=settings.aws_endpoint_url, region_name=settings.aws_region
    )


class Store:
    def __init__(self, settings: Settings, client=None) -> None:
        self.bucket = settings.backup_bucket
        self.kms_key_id = settings.backup_kms_key_id
        self.compression_level = settings.backup_compression_level
        self.client = client or s3_client(settings)

    def _encryption(self) -> dict[str, str]:
        if not self.kms_key_id:
            return {}
        return {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": self.kms_key_id}

    def writer(self, key: str) -> ObjectWriter:
        return ObjectWriter(self, key)

    def put_json(self, key: str, value: Any) -> None:
        self.client.put_object(
            Bucket=self.bucket,
            Key=key,
            Body=json.dumps(value, indent=2, default=str).encode(),
            ContentType="application/json",
            **self._encryption(),
        )

    def get_json(self, key: str) -> Any:
        return json.loads(self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read())

    def exists(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=key)
            return True
        except self.client.exceptions.ClientError:
            return False

    def prefixes(self, prefix: str) -> list[str]:
        found = []
        for page in self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=prefix, Delimiter="/"
        ):
            found += [p["Prefix"] for p in page.get("CommonPrefixes", [])]
        return found

    def delete_prefix(self, prefix: str) -> int:
        deleted = 0
        for page in self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=prefix
        ):
            keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
            if keys:
                self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": keys})
                deleted += len(keys)
        return deleted

    def download_verified(self, key: str, sha256: str) -> IO[bytes]:
        """The object in a temporary file, after checking its hash; `CorruptObject` if wrong."""
        digest = hashlib.sha256()
        spool = tempfile.TemporaryFile()  # noqa: SIM115 - returned open; the caller closes it
        body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
        for chunk in iter(lambda: body.read(1024 * 1024), b""):
            digest.update(chunk)
            spool.write(chunk)
        if digest.hexdigest() != sha256:
            spool.close()
            raise CorruptObject(f"{key}: SHA-256 {digest.hexdigest()} != manifest {sha256}")
        spool.seek(0)
        return spool


class ObjectWriter:
    """Write bytes as a multipart upload; `sha256` and `size` describe what was stored."""

    def __init__(self, store: Store, key: str) -> None:
        self.store, self.key = store, key
        self.digest = hashlib.sha256()
        self.size = 0
        self.buffer = bytearray()
        self.parts: list[dict] = []
        self.upload_id = store.client.create_multipart_upload(
            Bucket=store.bucket, Key=key, **store._encryption()
        )["UploadId"]

    def write(self, data: bytes) -> None:
        self.digest.update(data)
        self.size += len(data)
        self.buffer += data
        while len(self.buffer) >= PART_SIZE:
            self._upload(bytes(self.buffer[:PART_SIZE]))
            del self.buffer[:PART_SIZE]

    def _upload(self, data: bytes) -> None:
        number = len(self.parts) + 1
        part = self.store.client.upload_part(
            Bucket=self.store.bucket,
            Key=self.key,
            UploadId=self.upload_id,
            PartNumber=number,
            Body=data,
        )
        self.parts.append({"PartNumber": number, "ETag": part["ETag"]})

    def close(self) -> None:
        if self.buffer or not self.parts:
            self._upload(bytes(self.buffer))
            self.buffer.clear()
        self.store.client.complete_multipart_upload(
            Bucket=self.store.bucket,
            Key=self.key,
            UploadId=self.upload_id,
            MultipartUpload={"Parts": self.parts},
        )

    def abort(self) -> None:
        self.store.client.abort_multipart_upload(
            Bucket=self.store.bucket, Key=self.key, UploadId=self.upload_id
        )

    @property
    def sha256(self) -> str:
        return self.digest.hexdigest()
