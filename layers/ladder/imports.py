"""Importing a ladder's match history from CSV: how a studio moves onto ladder.

`played_at,player_a,player_b,score_a`, players by handle (created when new),
rows of equal `played_at` rated in file order. The whole file is validated
before anything is written: one bad row rejects it, naming its line. A file
is known by the SHA-256 of its rows as validated (times in UTC, handles in
lower case, scores as numbers), so the same history saved again with other
line endings, a BOM or `+00:00` for `Z` is the same file: importing it into
the same ladder again changes nothing. The rows are stored in one transaction, without ratings; one
recalculation of the ladder from the earliest imported time rates them (and
every later match of the ladder) exactly as a replay would.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import BinaryIO
from uuid import UUID

import psycopg
from psycopg.rows import tuple_row

from ladder.errors import ImportRejected
from ladder.events import write_events
from ladder.ids import time_ordered_ids
from ladder.jobs.store import schedule_recalculation
from ladder.ladders import LadderRow, seasons_now
from ladder.players import DEFAULT_INITIAL
from ladder.text import HANDLE_PATTERN
from ladder.times import EARLIEST, LATEST, RFC3339

MATCHES_HEADER = ["played_at", "player_a", "player_b", "score_a"]
SCORES = {"1": 1.0, "1.0": 1.0, "0.5": 0.5, "0": 0.0, "0.0": 0.0}
SCORE_TEXT = {raw: repr(score) for raw, score in SCORES.items()}  # as stored and hashed
HANDLE = re.compile(HANDLE_PATTERN)
# Rows per COPY write: large enough that the per-call cost vanishes.
COPY_BATCH = 10_000


@dataclass
class MatchRows:
    """A validated file: its rows in file order, as COPY text fields."""

    digest: hashlib._Hash = field(default_factory=hashlib.sha256)
    played_at: list[str] = field(default_factory=list)  # UTC, ISO 8601
    player_a: list[str] = field(default_factory=list)  # handles, lower-case
    player_b: list[str] = field(default_factory=list)
    score_a: list[str] = field(default_factory=list)
    earliest: datetime | None = None
    earliest_line: int = 0

    def __len__(self) -> int:
        return len(self.played_at)

    @property
    def sha256(self) -> str:
        return self.digest.hexdigest()

    def handles(self) -> set[str]:
        return set(self.player_a) | set(self.player_b)


def csv_rows(
    source: BinaryIO, header: list[str], report: Callable[[float, str], None]
) -> Iterator[tuple[int, list[str]]]:
    """A CSV file's rows after its header (line number, fields); blank lines skipped.
    `ImportRejected` names the line of a wrong header or malformed CSV."""
    raw = source.read()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportRejected(f"the file is not UTF-8 (byte {exc.start})") from None
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        first = next(reader, None)
        if first is None or [h.strip() for h in first] != header:
            raise ImportRejected(f"line 1: the header must be {','.join(header)}")
        total = max(1, text.count("\n"))
        for fields in reader:
            line = reader.line_num
            if "".join(fields).strip():  # not a blank line (nor one of empty fields)
                yield line, fields
            if line % 100_000 == 0:
                report(line / total, f"validated {line:,} lines")
    except csv.Error as exc:
        raise ImportRejected(f"line {reader.line_num}: {exc}") from None


def read_matches(
    source: BinaryIO, *, latest: datetime, report: Callable[[float, str], None] = lambda *_: None
) -> MatchRows:
    """Validate a whole matches CSV; `ImportRejected` names the first bad line.

    `latest`: no match may be played after it (the API's future-skew bound).
    """
    rows = MatchRows()
    handles: dict[str, str] = {}  # raw → stored, for handles already found valid
    for line, fields in csv_rows(source, MATCHES_HEADER, report):
        _add_match(rows, fields, line, latest, handles)
    if not rows:
        raise ImportRejected("the file has no matches")
    return rows


def _add_match(
    rows: MatchRows, fields: list[str], line: int, latest: datetime, handles: dict[str, str]
) -> None:
    if len(fields) != len(MATCHES_HEADER):
        raise ImportRejected(f"line {line}: {len(fields)} fields, expected 4")
    played, a, b, score = fields[0].strip(), fields[1].strip(), fields[2].strip(), fields[3].strip()
    when = _time(played, line)
    if when > latest:
        raise ImportRejected(f"line {line}: played_at {played} is in the future")
    # A file names each player many times: each handle is checked once.
    a = handles.get(a) or handles.setdefault(a, valid_handle(a, line, "player_a"))
    b = handles.get(b) or handles.setdefault(b, valid_handle(b, line, "player_b"))
    if a == b:
        raise ImportRejected(f"line {line}: a player cannot play themself ({a})")
    if score not in SCORES:
        raise ImportRejected(f"line {line}: score_a must be 1, 0.5 or 0, not {score!r}")
    # What isoformat() gives, without its cost, for the common whole-second UTC time
    # (not hour 24, which Python 3.14 reads as the next day's midnight).
    whole_utc = (
        len(played) == 20 and played[10] == "T" and played[19] == "Z" and played[11:13] != "24"
    )
    at = played[:19] + "+00:00" if whole_utc else when.isoformat()
    score = SCORE_TEXT[score]
    rows.digest.update(f"{at}\t{a}\t{b}\t{score}\n".encode())
    rows.played_at.append(at)
    rows.player_a.append(a)
    rows.player_b.append(b)
    rows.score_a.append(score)
    if rows.earliest is None or when < rows.earliest:
        rows.earliest, rows.earliest_line = when, line


def valid_handle(raw: str, line: int, name: str) -> str:
    """A handle as stored (lower case); ASCII before lower-casing, so the Kelvin sign
    cannot become a `k`."""
    handle = raw.lower()
    if not raw.isascii() or not HANDLE.fullmatch(handle):
        shown = raw if len(raw) <= 40 else raw[:40] + "…"
        raise ImportRejected(f"line {line}: {name} {shown!r} is not a handle")
    return handle


def _time(raw: str, line: int) -> datetime:
    if not RFC3339.fullmatch(raw):
        raise ImportRejected(
            f"line {line}: played_at {raw!r} is not an RFC 3339 time with seconds and an offset"
        )
    try:
        when = datetime.fromisoformat(raw.upper().replace("Z", "+00:00")).astimezone(UTC)
    except (ValueError, OverflowError):
        raise ImportRejected(f"line {line}: played_at {raw!r} is not a valid time") from None
    if not EARLIEST <= when <= LATEST:
        raise ImportRejected(f"line {line}: played_at {raw} is out of range")
    return when


@dataclass(frozen=True)
class Loaded:
    """What a load stored, or found stored by an earlier one (then `imported_at`)."""

    rows: int
    players_created: int
    job_id: UUID | None  # the recalculation that rates them (a standings file may need none)
    imported_at: datetime | None = None

    @property
    def already(self) -> bool:
        return self.imported_at is not None


def find_import(
    conn: psycopg.Connection, ladder: LadderRow, sha256: str, kind: str = "matches"
) -> Loaded | None:
    row = conn.execute(
        "SELECT rows, players_created, job_id, imported_at FROM imports"
        " WHERE ladder_id = %s AND kind = %s AND sha256 = %s",
        (ladder.id, kind, sha256),
    ).fetchone()
    if row is None:
        return None
    return Loaded(row["rows"], row["players_created"], row["job_id"], row["imported_at"])


def reserve_seqs(conn: psycopg.Connection, count: int) -> int:
    """The first of `count` consecutive match seqs, reserved for an import (in the
    caller's transaction, which should be short: writers wait for it).

    A block needs every other taker of seqs held off between reading the sequence
    and moving it on: each API writer takes its seq while holding standing rows,
    so an exclusive lock on `standings` waits for those in flight and keeps new
    ones out. Seqs of an import that then fails are skipped, as a rolled-back
    match's seq is.
    """
    conn.execute("LOCK TABLE standings IN EXCLUSIVE MODE")
    (last,) = (
        conn.cursor(row_factory=tuple_row)
        .execute("SELECT setval('match_seq', nextval('match_seq') + %s - 1)", (count,))
        .fetchone()
    )
    return last - count + 1


def _refuse_closed_seasons(conn: psycopg.Connection, ladder: LadderRow, rows: MatchRows) -> None:
    """A row played in a closed season rejects the file, as the API refuses such a
    match. Seasons close in time order, so the earliest row decides."""
    seasons, now = seasons_now(conn, ladder.id)
    season = seasons.closed_season(rows.earliest, now) if seasons else None
    if season is not None:
        raise ImportRejected(
            f"line {rows.earliest_line}: played_at {rows.earliest.isoformat()} is in season"
            f" {season} of ladder {ladder.slug!r}, which has closed"
        )


def load_matches(
    conn: psycopg.Connection,
    ladder: LadderRow,
    rows: MatchRows,
    first_seq: int,
    report: Callable[[float, str], None] = lambda *_: None,
) -> Loaded:
    """Store a validated file's matches (seqs from `first_seq` on, in file order) with
    their players and standings, and schedule the recalculation that rates them; in
    the caller's transaction."""
    _refuse_closed_seasons(conn, ladder, rows)
    ids, created = _ensure_players(conn, ladder, rows.handles())
    report(0.2, f"{created:,} players created")
    with conn.cursor().copy(
        "COPY matches (id, ladder_id, seq, played_at, player_a, player_b, score_a) FROM STDIN"
    ) as copy:
        batch = []
        for index, (match_id, played, a, b, score) in enumerate(
            zip(
                time_ordered_ids(len(rows)),
                rows.played_at,
                rows.player_a,
                rows.player_b,
                rows.score_a,
                strict=True,
            )
        ):
            batch.append(
                f"{match_id}\t{ladder.id}\t{first_seq + index}\t{played}"
                f"\t{ids[a]}\t{ids[b]}\t{score}\n"
            )
            if len(batch) == COPY_BATCH:
                copy.write("".join(batch))
                batch.clear()
                report(0.2 + 0.8 * index / len(rows), f"stored {index + 1:,} matches")
        copy.write("".join(batch))
    assert rows.earliest is not None  # a validated file has rows
    job_id = schedule_recalculation(
        conn, ladder_id=ladder.id, from_played_at=rows.earliest, from_seq=0
    )
    conn.execute(
        "INSERT INTO imports (ladder_id, kind, sha256, rows, players_created, job_id)"
        " VALUES (%s, 'matches', %s, %s, %s, %s)",
        (ladder.id, rows.sha256, len(rows), created, job_id),
    )
    return Loaded(len(rows), created, job_id)


def _ensure_players(
    conn: psycopg.Connection, ladder: LadderRow, handles: set[str]
) -> tuple[dict[str, UUID], int]:
    """Every handle's player id (see `ensure_players`) and a standing in the ladder for
    each; returns the ids and how many players were created."""
    ids, created = ensure_players(conn, handles)
    conn.execute(
        "INSERT INTO standings (ladder_id, player_id, handle, rating, games)"
        " SELECT %s, id, handle, %s, 0 FROM players WHERE id = ANY(%s) ORDER BY id"
        " ON CONFLICT DO NOTHING",
        (ladder.id, ladder.rules.initial, sorted(ids.values())),
    )
    return ids, created


def ensure_players(conn: psycopg.Connection, handles: set[str]) -> tuple[dict[str, UUID], int]:
    """Every handle's player id, new handles becoming players (their display name the
    handle, with `player.created` events); returns the ids and how many were created."""
    wanted = sorted(handles)
    created = conn.execute(
        "INSERT INTO players (id, handle, display_name)"
        " SELECT gen_random_uuid(), h, h FROM unnest(%s::text[]) AS h"
        " ON CONFLICT ((lower(handle))) DO NOTHING"
        f" RETURNING id, handle, display_name, created_at, {DEFAULT_INITIAL} AS rating,"
        " 0 AS games",
        (wanted,),
    ).fetchall()
    write_events(conn, "player.created", created)
    ids = {
        handle: player_id
        for player_id, handle in conn.cursor(row_factory=tuple_row).execute(
            "SELECT id, handle FROM players WHERE handle = ANY(%s)", (wanted,)
        )
    }
    return ids, len(created)


def latest_allowed(max_future_skew_seconds: float) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=max_future_skew_seconds)
