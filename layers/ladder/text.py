"""What client text may hold, shared by the models that accept it."""

HANDLE_PATTERN = r"^[a-z0-9_]{3,32}$"  # as stored (lower case); the schema checks it too
SLUG_PATTERN = r"^[a-z][a-z0-9-]{1,31}$"  # a ladder's; the schema checks it too
# Text without control characters, C0 or C1 (Postgres rejects NUL outright).
TEXT_PATTERN = r"^[^\x00-\x1f\x7f-\x9f]+$"
EMAIL_PATTERN = r"^[^@\s\x00-\x1f\x7f-\x9f]+@[^@\s\x00-\x1f\x7f-\x9f]+$"
