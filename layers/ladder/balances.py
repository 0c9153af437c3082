"""Opening balances: importing standings (`ladder import standings FILE --ladder SLUG`).

`handle,rating,games`: each player's standing in the ladder before their first
match there, as a studio carries it over from its previous system. A balance
is an entry in rating order (history `reason: "import"`, no match) at the
first instant where the ladder's rating order is still open (the start of its
earliest season not closed, else the earliest time ladder accepts), so every match of
the player, imported or live, is rated after it, and every recalculation
applies it again (`opening_balances` is one of its inputs). Only players
without a standing in the ladder can get one: a balance opens a standing, it
never rewrites one. The whole file is validated first (one bad row names its
line, nothing is written) and known by the SHA-256 of its validated rows, so
importing it again changes nothing.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import BinaryIO

import psycopg

from ladder.errors import ImportRejected
from ladder.events import write_event
from ladder.imports import Loaded, csv_rows, ensure_players, find_import, valid_handle
from ladder.jobs.store import schedule_recalculation
from ladder.ladders import LadderRow, seasons_now
from ladder.ratings.recalculation import MAX_PLAYERS_IN_EVENT
from ladder.times import EARLIEST

STANDINGS_HEADER = ["handle", "rating", "games"]
INTEGER = re.compile(r"[0-9]{1,12}")
DECIMAL = re.compile(r"[0-9]{1,12}(\.[0-9]{1,20})?([eE][+-]?[0-9]{1,3})?")
# A rating the expected score's power of ten handles for any opponent; as many games
# as anyone plays.
MAX_RATING = 10_000.0
MAX_GAMES = 10_000_000


@dataclass
class StandingRows:
    """A validated standings file, in file order."""

    digest: hashlib._Hash = field(default_factory=hashlib.sha256)
    lines: dict[str, int] = field(default_factory=dict)  # handle → its line
    ratings: list[float] = field(default_factory=list)
    games: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.lines)

    @property
    def sha256(self) -> str:
        return self.digest.hexdigest()


def read_standings(
    source: BinaryIO, report: Callable[[float, str], None] = lambda *_: None
) -> StandingRows:
    """Validate a whole standings CSV; `ImportRejected` names the first bad line."""
    rows = StandingRows()
    for line, fields in csv_rows(source, STANDINGS_HEADER, report):
        if len(fields) != len(STANDINGS_HEADER):
            raise ImportRejected(f"line {line}: {len(fields)} fields, expected 3")
        handle, rating, games = (f.strip() for f in fields)
        handle = valid_handle(handle, line, "handle")
        if handle in rows.lines:
            raise ImportRejected(f"line {line}: {handle} is on line {rows.lines[handle]} too")
        value = _number(rating, float, line, "rating", MAX_RATING)
        count = _number(games, int, line, "games", MAX_GAMES)
        rows.digest.update(f"{handle}\t{value!r}\t{count}\n".encode())
        rows.lines[handle] = line
        rows.ratings.append(value)
        rows.games.append(count)
    if not rows:
        raise ImportRejected("the file has no standings")
    return rows


def _number(raw: str, kind: type, line: int, name: str, maximum: float):
    # Digits as a CSV means them: not Python's `1_500`, `-0`, `+5` or other scripts'.
    shape = INTEGER if kind is int else DECIMAL
    value = kind(raw) if shape.fullmatch(raw) else None
    if value is None or not math.isfinite(value) or not 0 <= value <= maximum:
        wanted = "an integer" if kind is int else "a number"
        raw = raw if len(raw) <= 40 else raw[:40] + "…"
        raise ImportRejected(
            f"line {line}: {name} must be {wanted} from 0 to {maximum:g}, not {raw!r}"
        )
    return value


def load_standings(conn: psycopg.Connection, ladder: LadderRow, rows: StandingRows) -> Loaded:
    """Store a validated file's balances, with their players, standings and history
    entries, in the caller's transaction (or find that it was imported before);
    schedule the recalculation that places them when a soft reset after their instant
    is already in history."""
    # Writers of standings wait (a first match creating one of these standings
    # meanwhile would race the check below), a season's close and the same file
    # imported at the same moment too.
    conn.execute("LOCK TABLE standings IN EXCLUSIVE MODE")
    found = find_import(conn, ladder, rows.sha256, kind="standings")
    if found is not None:
        return found
    seasons, now = seasons_now(conn, ladder.id)
    handles = list(rows.lines)
    taken = conn.execute(
        "SELECT handle FROM standings WHERE ladder_id = %s AND handle = ANY(%s)",
        (ladder.id, handles),
    ).fetchall()
    if taken:
        first = min(taken, key=lambda row: rows.lines[row["handle"]])["handle"]
        raise ImportRejected(
            f"line {rows.lines[first]}: {first} already has a standing in ladder"
            f" {ladder.slug!r}; an opening balance comes before a player's first match"
        )
    ids, created = ensure_players(conn, set(handles))
    # The start of the earliest season not closed (by its grace or frozen: a close run
    # late must not find a balance inside its season), else the earliest time.
    applies_at = (seasons.start(seasons.first_open(now)) if seasons else None) or EARLIEST
    table = [
        (ids[handle], handle, rating, games)
        for handle, rating, games in zip(handles, rows.ratings, rows.games, strict=True)
    ]
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO opening_balances (ladder_id, player_id, rating, games, applies_at)"
            " VALUES (%s, %s, %s, %s, %s)",
            [(ladder.id, pid, rating, games, applies_at) for pid, _, rating, games in table],
        )
        cur.executemany(
            "INSERT INTO standings (ladder_id, player_id, handle, rating, games)"
            " VALUES (%s, %s, %s, %s, %s)",
            [(ladder.id, pid, handle, rating, games) for pid, handle, rating, games in table],
        )
        cur.executemany(
            "INSERT INTO rating_history (player_id, match_id, ladder_id, played_at, seq,"
            " rating_before, rating_after, reason) VALUES (%s, NULL, %s, %s, 0, %s, %s, 'import')",
            [
                (pid, ladder.id, applies_at, ladder.rules.initial, rating)
                for pid, _, rating, _ in table
            ],
        )
    job_id = None
    written = seasons.reset_through if seasons else None
    if written is not None and written >= applies_at:
        # A reset already in history applies to these standings too: replayed in place.
        job_id = schedule_recalculation(
            conn, ladder_id=ladder.id, from_played_at=applies_at, from_seq=0
        )
    conn.execute(
        "INSERT INTO imports (ladder_id, kind, sha256, rows, players_created, job_id)"
        " VALUES (%s, 'standings', %s, %s, %s, %s)",
        (ladder.id, rows.sha256, len(rows), created, job_id),
    )
    changed = [
        {"player_id": pid, "handle": handle, "rating": rating, "games": games}
        for pid, handle, rating, games in table
    ]
    write_event(
        conn,
        "leaderboard.changed",
        {
            "ladder": ladder.slug,
            "reason": "import",
            "players": changed if len(changed) <= MAX_PLAYERS_IN_EVENT else [],
        },
    )
    return Loaded(len(rows), created, job_id)
