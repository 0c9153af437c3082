"""How every column of every backed-up table is treated in an anonymized export.

A test fails, naming the column, when the migrated schema has a column this
policy does not classify, so a migration cannot add personal data unnoticed.

Classes:
- keep: copied as is (ids, ratings, timestamps: no personal data);
- fake: replaced by a realistic value derived from an HMAC of the original,
  so equal inputs give equal fakes (a handle stays unique and joins on it
  survive);
- hash: replaced by the hex HMAC-SHA256 of the original (secret salt);
- null: emptied;
- scrub_json: JSON whose `handle`, `display_name` and `email` members are
  faked wherever they appear (event payloads repeat players' names).
"""

from __future__ import annotations

KEEP, FAKE, HASH, NULL, SCRUB_JSON = "keep", "fake", "hash", "null", "scrub_json"

POLICY: dict[str, dict[str, str]] = {
    "players": {
        "id": KEEP,
        "handle": FAKE,
        "display_name": FAKE,
        "email": FAKE,
        "created_at": KEEP,
        "updated_at": KEEP,
    },
    "ladders": {
        "id": KEEP,
        "slug": KEEP,
        "name": KEEP,
        "rules": KEEP,
        "board": KEEP,
        "seasons": KEEP,
        "reset_through": KEEP,
        "created_at": KEEP,
        "updated_at": KEEP,
    },
    "standings": {
        "ladder_id": KEEP,
        "player_id": KEEP,
        "handle": FAKE,  # the same fake as the player's (an HMAC of the same handle)
        "rating": KEEP,
        "games": KEEP,
        "last_played_at": KEEP,
        "updated_at": KEEP,
        "version": KEEP,
    },
    "matches": {
        "id": KEEP,
        "ladder_id": KEEP,
        "seq": KEEP,
        "played_at": KEEP,
        "player_a": KEEP,
        "player_b": KEEP,
        "score_a": KEEP,
        "voided": KEEP,
        "voided_at": KEEP,
        "recorded_at": KEEP,
    },
    "rating_history": {
        "player_id": KEEP,
        "ladder_id": KEEP,
        "match_id": KEEP,
        "played_at": KEEP,
        "seq": KEEP,
        "rating_before": KEEP,
        "rating_after": KEEP,
        "reason": KEEP,
    },
    "seasons": {
        "ladder_id": KEEP,
        "number": KEEP,
        "starts_at": KEEP,
        "ends_at": KEEP,
        "closed_at": KEEP,
        "players": KEEP,
        "ranked": KEEP,
    },
    "opening_balances": {
        "ladder_id": KEEP,
        "player_id": KEEP,
        "rating": KEEP,
        "games": KEEP,
        "applies_at": KEEP,
    },
    "season_standings": {
        "ladder_id": KEEP,
        "season": KEEP,
        "player_id": KEEP,
        "handle": FAKE,  # the same fake as the player's
        "rating": KEEP,
        "games": KEEP,
        "last_played_at": KEEP,
        "rank": KEEP,
        "percentile": KEEP,
        "provisional": KEEP,
    },
    "event_outbox": {
        "id": KEEP,
        "type": KEEP,
        "topics": KEEP,
        "payload": SCRUB_JSON,
        "created_at": KEEP,
        "seq": KEEP,
        "published_at": KEEP,
    },
    "idempotency_records": {
        "principal": HASH,
        "key": HASH,
        "operation": KEEP,
        "request_hash": KEEP,
        "status_code": KEEP,
        "response": SCRUB_JSON,
        "created_at": KEEP,
    },
    "jobs": {
        "id": KEEP,
        "type": KEEP,
        "status": KEEP,
        "payload": KEEP,
        "progress": KEEP,
        "error": KEEP,
        "attempts": KEEP,
        "created_at": KEEP,
        "started_at": KEEP,
        "finished_at": KEEP,
        "dispatched_at": KEEP,
        "heartbeat_at": KEEP,
        "result": KEEP,
    },
    "job_locks": {"name": KEEP, "holder": KEEP, "lease_until": KEEP},
    "imports": {
        "ladder_id": KEEP,
        "kind": KEEP,
        "sha256": KEEP,
        "rows": KEEP,
        "players_created": KEEP,
        "job_id": KEEP,
        "imported_at": KEEP,
    },
    "rating_rules_applied": {"singleton": KEEP, "rules": KEEP, "changed_at": KEEP},
}

# The personal values an export must not contain (checked after every export).
PERSONAL_COLUMNS = [("players", "handle"), ("players", "display_name"), ("players", "email")]
