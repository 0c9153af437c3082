"""Anonymized exports for staging: a column policy and the export that applies it."""
