"""Retention in code: keep the newest backup of each of the last N days and M
ISO weeks; delete the rest (and interrupted ones a day old). The bucket's
lifecycle rule is only a backstop."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ladder.backup.manifest import PREFIX
from ladder.backup.store import Store


def _when(backup_id: str) -> datetime:
    return datetime.strptime(backup_id, "%Y%m%dT%H%M%S%fZ").replace(tzinfo=UTC)


def backups_to_keep(ids: list[str], *, daily: int, weekly: int) -> set[str]:
    newest_first = sorted(ids, key=_when, reverse=True)
    keep: set[str] = set()
    days: list = []
    weeks: list = []
    for backup_id in newest_first:
        when = _when(backup_id)
        day, week = when.date(), when.isocalendar()[:2]
        if day not in days and len(days) < daily:
            days.append(day)
            keep.add(backup_id)
        if week not in weeks and len(weeks) < weekly:
            weeks.append(week)
            keep.add(backup_id)
    return keep


def apply_retention(store: Store, *, daily: int, weekly: int, now: datetime | None = None) -> dict:
    now = now or datetime.now(UTC)
    complete, interrupted = [], []
    for prefix in store.prefixes(PREFIX):
        backup_id = prefix[len(PREFIX) :].rstrip("/")
        (complete if store.exists(f"{prefix}manifest.json") else interrupted).append(backup_id)
    keep = backups_to_keep(complete, daily=daily, weekly=weekly)
    deleted = [b for b in complete if b not in keep]
    deleted += [b for b in interrupted if now - _when(b) > timedelta(days=1)]
    for backup_id in deleted:
        store.delete_prefix(f"{PREFIX}{backup_id}/")
    return {"kept": sorted(keep), "deleted": sorted(deleted)}
