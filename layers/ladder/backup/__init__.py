"""Logical backups to S3: dump, manifest, verify, restore, drills, retention."""
