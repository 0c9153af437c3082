"""`elo.recalculate`: replay every non-voided match of one ladder from a point in
`(played_at, seq)` order, with that ladder's rules.

It works with one database connection, the pool every Lambda gets, using it
for one short transaction at a time:

1. Lease: the `job_locks` row names this job as the one recalculation
   running, until a deadline past the worker's timeout. Another job finding
   the lease taken is deferred (`RecalculationBusy`), not failed; the same
   job redelivered after a crash takes its own lease back at once. A lease,
   not a held row or advisory lock, so no transaction or session spans the
   job (which would need a second connection, or pin an RDS Proxy one).
2. Read the starting standings and the matches in bulk (COPY, text) from one
   REPEATABLE READ snapshot, without blocking anyone, and replay them in
   memory with `ladder.ratings.elo` (the same functions the API uses).
3. In one transaction: check the lease, lock `standings` against writers
   (readers are never blocked; writers of every ladder wait, as the lock is
   the table's), then make sure the replay saw every match now in its range:
   the ones recorded meanwhile are replayed on top; if one belongs before what
   was replayed (or a match committed out of seq order, or was voided), the
   replay is redone under the lock. The range's history is replaced (COPY),
   the standings updated from an unlogged staging table, the lease released,
   and the job marked succeeded in the same transaction, which makes a
   redelivered message a no-op. Readers see the
   old ratings or the new, never a mix; writers arriving meanwhile wait for
   the commit and then rate against the new ratings, so nothing is lost.

Sizing: 1M matches take seconds (see `make bench`).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from uuid import UUID

import psycopg
from psycopg.rows import tuple_row

from ladder.db import Database
from ladder.events import write_event
from ladder.jobs import store
from ladder.ladders import LadderRow, ladder_by_id
from ladder.rank_index.entries import indexed
from ladder.ratings.elo import RatingRules, rate_values
from ladder.season_calendar import copy_text

# Beyond this many changed players, leaderboard.changed carries none and
# clients reload on recalculation.completed instead.
MAX_PLAYERS_IN_EVENT = 100

# played_at as fixed-width UTC text: it sorts like the timestamps it names
# and reads back into timestamptz exactly.
PLAYED_AT_TEXT = "to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
MATCH_COLUMNS = f"id, seq, {PLAYED_AT_TEXT.format(column='played_at')}, player_a, player_b, score_a"
NULL = "\\N"  # in COPY text
# The fields of a replay's history lines, in order (entries without a match add `reason`).
HISTORY_COLUMNS = "ladder_id, player_id, match_id, played_at, seq, rating_before, rating_after"
NONE_DUE = "~"  # sorts after every COPY text time


@dataclass(frozen=True)
class Point:
    """A position in rating order."""

    played_at: datetime
    seq: int

    @classmethod
    def within(cls, ladder: LadderRow, start: Point | None) -> Point | None:
        """`start`, moved up to where the ladder's rating order may still change: no
        recalculation reaches into a closed season."""
        floor = ladder.seasons.floor if ladder.seasons else None
        if floor is None or (start is not None and (start.played_at, start.seq) >= (floor, 0)):
            return start
        return cls(floor, 0)

    def payload(self) -> dict:
        return {"played_at": self.played_at.isoformat(), "seq": self.seq}

    @classmethod
    def from_payload(cls, raw: dict | None) -> Point | None:
        if not raw:
            return None
        # In UTC, whatever offset a stored payload has: the bounds are bound into a COPY
        # statement as literals, and timestamptz literals refuse offsets beyond ±15:59.
        return cls(datetime.fromisoformat(raw["played_at"]).astimezone(UTC), int(raw["seq"]))


@dataclass
class Replay:
    """Standings (player id → [rating, games, last played_at as COPY text]) and the
    history rows they produced.

    Soft resets and opening balances are part of rating order, each a history entry
    without a match at (its instant, seq 0), which no match has: each boundary in
    `resets` (COPY text, ascending) applies to every standing before any match
    played at or after it; each of `balances` ((instant, player, rating, games),
    ascending) sets its player's standing there (after a reset at the same instant:
    it is the player's first standing)."""

    ladder_id: int
    standings: dict[str, list] = field(default_factory=dict)
    history: list[str] = field(default_factory=list)  # COPY text lines (HISTORY_COLUMNS)
    no_match_history: list[str] = field(default_factory=list)  # … of entries without one
    resets: list[str] = field(default_factory=list)
    reset_factor: float = 0.0
    last_reset: str | None = None
    balances: list[tuple[str, str, float, int]] = field(default_factory=list)
    matches: int = 0
    last_key: tuple[str, int] | None = None
    watermark: int = 0  # highest match seq the snapshot saw
    balances_seen: int = 0  # opening balances of the ladder in the snapshot (never deleted)
    touched: set[str] = field(default_factory=set)  # players of the replayed entries
    # The replayed seqs in rating order, as `RANGE_DIGEST` hashes them.
    digest: hashlib._Hash = field(default_factory=hashlib.sha256)

    def apply(self, rows: Iterator[list[str]], rules: RatingRules) -> None:
        standings, history, initial = self.standings, self.history, rules.initial
        touched, digest, ladder = self.touched, self.digest, self.ladder_id
        # Compared with each row's time: NONE_DUE, beyond every time, when none is due.
        next_event = self._next_event()
        for match_id, seq, played_at, player_a, player_b, score in rows:
            if played_at >= next_event:
                self._events_through(played_at, rules)
                next_event = self._next_event()
            touched.add(player_a)
            touched.add(player_b)
            digest.update(f"{seq},".encode())
            a = standings.get(player_a) or standings.setdefault(player_a, [initial, 0, None])
            b = standings.get(player_b) or standings.setdefault(player_b, [initial, 0, None])
            before_a, before_b = a[0], b[0]
            a[0], b[0] = rate_values(before_a, a[1], before_b, b[1], float(score), rules)
            a[1] += 1
            b[1] += 1
            a[2] = b[2] = played_at  # rows come in rating order: the latest wins
            history.append(
                f"{ladder}\t{player_a}\t{match_id}\t{played_at}\t{seq}\t{before_a!r}\t{a[0]!r}\n"
            )
            history.append(
                f"{ladder}\t{player_b}\t{match_id}\t{played_at}\t{seq}\t{before_b!r}\t{b[0]!r}\n"
            )
            self.matches += 1
            self.last_key = (played_at, int(seq))

    def finish(self, rules: RatingRules) -> None:
        """Apply the resets and balances due after the last match."""
        self._events_through(NONE_DUE, rules)

    def _next_event(self) -> str:
        reset = self.resets[0] if self.resets else NONE_DUE
        return min(reset, self.balances[0][0]) if self.balances else reset

    def _events_through(self, played_at: str, rules: RatingRules) -> None:
        initial, keep = rules.initial, 1 - self.reset_factor
        while (at := self._next_event()) != NONE_DUE and at <= played_at:
            if self.resets and self.resets[0] == at:
                boundary = self.resets.pop(0)
                for player, standing in self.standings.items():
                    before = standing[0]
                    standing[0] = initial + (before - initial) * keep
                    self.no_match_history.append(
                        f"{self.ladder_id}\t{player}\t{NULL}\t{boundary}\t0\t{before!r}\t{standing[0]!r}"
                        "\tseason_reset\n"
                    )
                    self.touched.add(player)
                self.last_reset = boundary
            else:
                _, player, rating, games = self.balances.pop(0)
                self.standings[player] = [rating, games, None]
                self.no_match_history.append(
                    f"{self.ladder_id}\t{player}\t{NULL}\t{at}\t0\t{initial!r}\t{rating!r}\timport\n"
                )
                self.touched.add(player)
            self.last_key = (at, 0)


def _copy_rows(conn: psycopg.Connection, query: str, params=()) -> Iterator[list[str]]:
    """Rows of a text COPY, split into fields (faster than typed loading for bulk work)."""
    with conn.cursor() as cur, cur.copy(f"COPY ({query}) TO STDOUT", params) as copy:
        tail = b""
        for chunk in copy:
            lines = (tail + bytes(chunk)).split(b"\n")
            tail = lines.pop()
            for line in lines:
                yield line.decode().split("\t")


def _range(
    ladder_id: int, start: Point | None, *, after_seq: int | None = None
) -> tuple[str, tuple]:
    conditions, params = ["ladder_id = %s", "NOT voided"], [ladder_id]
    if start is not None:
        conditions.append("(played_at, seq) >= (%s, %s)")
        params += [start.played_at, start.seq]
    if after_seq is not None:
        conditions.append("seq > %s")
        params.append(after_seq)
    return (
        f"SELECT {MATCH_COLUMNS} FROM matches WHERE {' AND '.join(conditions)}"
        " ORDER BY played_at, seq",
        tuple(params),
    )


def standings_before(
    conn: psycopg.Connection, ladder: LadderRow, start: Point, players: list[str] | None = None
) -> dict[str, list]:
    """Each player's (or each of `players`') standing in the ladder just before the start
    point, as [rating, games, last played_at as COPY text]; a player with no history
    entry before it is absent (they start at the initial rating).

    Read from the history since the last frozen season, on top of its frozen final
    standings when there is one: the cost is the open seasons', not all history's.
    """
    floor = ladder.seasons.floor if ladder.seasons else None
    since, base = "", {}
    params: list = [ladder.id, start.played_at, start.seq]
    if floor is not None:
        since = " AND (h.played_at, h.seq) >= (%s, 0)"
        params.append(floor)
        base = _frozen_standings(conn, ladder, players)
    only = "" if players is None else " AND h.player_id = ANY(%s::uuid[])"
    if players is not None:
        params.append(players)
    rows = conn.cursor(row_factory=tuple_row).execute(
        "SELECT h.player_id::text, (array_agg(h.rating_after ORDER BY h.played_at DESC,"
        " h.seq DESC))[1], count(*) FILTER (WHERE h.reason = 'match')"
        " + coalesce(sum(b.games), 0), "
        + PLAYED_AT_TEXT.format(column="max(h.played_at) FILTER (WHERE h.reason = 'match')")
        + " FROM rating_history h LEFT JOIN matches m ON m.id = h.match_id"
        # An opening balance's entry carries its games.
        " LEFT JOIN opening_balances b ON h.reason = 'import' AND b.ladder_id = h.ladder_id"
        " AND b.player_id = h.player_id"
        " WHERE h.ladder_id = %s AND (m.id IS NULL OR NOT m.voided)"
        " AND (h.played_at, h.seq) < (%s, %s)" + since + only + " GROUP BY h.player_id",
        params,
    )
    standings = base
    for player, rating, games, last in rows:
        _, base_games, base_last = base.get(player, (None, 0, None))
        latest = max(filter(None, (base_last, last)), default=None)
        standings[player] = [rating, base_games + games, latest]
    return standings


def _frozen_standings(
    conn: psycopg.Connection, ladder: LadderRow, players: list[str] | None
) -> dict[str, list]:
    only = "" if players is None else " AND player_id = ANY(%s::uuid[])"
    params = (ladder.id, ladder.seasons.frozen)
    rows = conn.cursor(row_factory=tuple_row).execute(
        "SELECT player_id::text, rating, games, "
        + PLAYED_AT_TEXT.format(column="last_played_at")
        + " FROM season_standings WHERE ladder_id = %s AND season = %s"
        + only,
        params if players is None else (*params, players),
    )
    return {player: [rating, games, last] for player, rating, games, last in rows}


def _read_and_replay(conn: psycopg.Connection, ladder: LadderRow, start: Point | None) -> Replay:
    replay = Replay(ladder.id)
    cur = conn.cursor(row_factory=tuple_row)
    (replay.watermark, now) = cur.execute(
        "SELECT coalesce(max(seq), 0), clock_timestamp() FROM matches"
    ).fetchone()
    replay.balances_seen = _balance_count(conn, ladder)
    if start is not None:
        replay.standings.update(standings_before(conn, ladder, start))
    if ladder.seasons is not None and ladder.seasons.soft_factor is not None:
        after = start.played_at if start else ladder.seasons.schedule.anchor
        inclusive = start is None or start.seq == 0
        replay.resets = [copy_text(b) for b in ladder.seasons.resets_between(after, inclusive, now)]
        replay.reset_factor = ladder.seasons.soft_factor
    replay.balances = _balances(conn, ladder, start)
    query, params = _range(ladder.id, start)
    replay.apply(_copy_rows(conn, query, params), ladder.rules)
    replay.finish(ladder.rules)
    return replay


def _balance_count(conn: psycopg.Connection, ladder: LadderRow) -> int:
    query = "SELECT count(*) FROM opening_balances WHERE ladder_id = %s"
    return conn.cursor(row_factory=tuple_row).execute(query, (ladder.id,)).fetchone()[0]


def _balances(
    conn: psycopg.Connection, ladder: LadderRow, start: Point | None
) -> list[tuple[str, str, float, int]]:
    """The ladder's opening balances at or after `start`, in rating order."""
    since, params = "", [ladder.id]
    if start is not None:
        since = " AND (applies_at, 0) >= (%s, %s)"
        params += [start.played_at, start.seq]
    applies_at = PLAYED_AT_TEXT.format(column="applies_at")
    query = (
        f"SELECT {applies_at}, player_id::text, rating, games FROM opening_balances"
        f" WHERE ladder_id = %s{since} ORDER BY applies_at, player_id"
    )
    return conn.cursor(row_factory=tuple_row).execute(query, params).fetchall()


def recalculate(
    db: Database,
    *,
    job_id: UUID,
    ladder_id: int,
    start: Point | None,
    progress: Callable[[float], None] = lambda _: None,
) -> dict:
    """Recalculate a ladder from `start` (None: everything) with its rules; returns the
    job's result.

    Each step borrows the one connection and gives it back, so `progress`
    (which writes the job row) can use it in between.
    """
    started = time.monotonic()
    store.take_lease(db, job_id)
    try:
        progress(0.1)
        # One snapshot for everything read.
        ladder, start, replay = db.run(lambda conn: _read(conn, ladder_id, start), snapshot=True)
        progress(0.6)
        result = db.run(lambda conn: _apply(conn, ladder, replay, start, job_id))
    except Exception:
        # A failed run lets the next one start now rather than when the lease lapses
        # (a crashed one cannot; its lease lapses, or its redelivery takes it back).
        store.release_lease(db, job_id)
        raise
    result["seconds"] = round(time.monotonic() - started, 3)
    return result


def _read(
    conn: psycopg.Connection, ladder_id: int, start: Point | None
) -> tuple[LadderRow, Point | None, Replay]:
    """The ladder, the start moved into its open seasons, and the replay from there."""
    ladder = ladder_by_id(conn, ladder_id)
    within = Point.within(ladder, start)
    return ladder, within, _read_and_replay(conn, ladder, within)


def _apply(
    conn: psycopg.Connection, ladder: LadderRow, replay: Replay, start: Point | None, job_id
) -> dict:
    rules = ladder.rules
    store.end_lease(conn, job_id)
    conn.execute("TRUNCATE recalc_players_staging")

    # From here writers wait (readers do not) until this transaction commits,
    # and none is in flight: every match that will ever carry a seq up to the
    # watermark has committed.
    conn.execute("LOCK TABLE standings IN EXCLUSIVE MODE")
    locked = time.monotonic()
    query, params = _range(ladder.id, start, after_seq=replay.watermark)
    late = list(_copy_rows(conn, query, params))
    if (
        _replay_missed_matches(conn, ladder.id, start, replay)
        or (late and replay.last_key and _key(late[0]) < replay.last_key)
        or _balance_count(conn, ladder) != replay.balances_seen
    ):
        # A match recorded meanwhile belongs before what was replayed, or one
        # the snapshot could not see (a lower seq committed after it, or a
        # void) changed the range, or opening balances were imported (they sit
        # at or before the start): redo it all under the lock (rare;
        # correctness over speed).
        replay = _read_and_replay(conn, ladder, start)
    elif late:
        # On copies: `db.run` calls this again with the same replay if the connection
        # is lost, and that attempt must not find this one's tail already applied.
        standings = {player: list(standing) for player, standing in replay.standings.items()}
        if start is not None:
            # A tail player the replay never met starts from the snapshot's standing, which
            # a match before the start recorded since (not late for them) made stale:
            # read theirs again, under the lock.
            newcomers = sorted({p for row in late for p in row[3:5]} - replay.touched)
            for player in newcomers:
                standings.pop(player, None)
            standings.update(standings_before(conn, ladder, start, newcomers))
        tail = Replay(
            ladder.id, standings=standings, matches=replay.matches, touched=set(replay.touched)
        )
        tail.apply(iter(late), rules)  # all after the last reset (checked above)
        replay = replace(
            replay,
            standings=tail.standings,
            touched=tail.touched,
            matches=tail.matches,
            history=replay.history + tail.history,
        )

    # Not inside the COPY: one statement at a time.
    players = _players_to_write(conn, ladder.id, start, replay)
    with conn.cursor().copy(
        "COPY recalc_players_staging (player_id, rating, games, last_played_at) FROM STDIN"
    ) as copy:
        for player in players:
            rating, games, last = replay.standings.get(player, (rules.initial, 0, None))
            copy.write(f"{player}\t{rating!r}\t{games}\t{last or NULL}\n")

    if start is None:
        conn.execute("DELETE FROM rating_history WHERE ladder_id = %s", (ladder.id,))
    else:
        conn.execute(
            "DELETE FROM rating_history WHERE ladder_id = %s AND (played_at, seq) >= (%s, %s)",
            (ladder.id, start.played_at, start.seq),
        )
    written = write_history(conn, replay.history, replay.no_match_history)
    if replay.last_reset is not None:
        conn.execute(
            "UPDATE ladders SET reset_through = greatest(reset_through, %s) WHERE id = %s",
            (replay.last_reset, ladder.id),
        )
    changed = conn.execute(
        "UPDATE standings p SET rating = s.rating, games = s.games,"
        " last_played_at = s.last_played_at, updated_at = now(), version = p.version + 1"
        " FROM recalc_players_staging s WHERE p.ladder_id = %s AND p.player_id = s.player_id"
        " AND (p.rating, p.games, p.last_played_at)"
        " IS DISTINCT FROM (s.rating, s.games, s.last_played_at)"
        f" RETURNING p.player_id, p.handle, p.rating, p.games, {indexed('p.')}",
        (ladder.id,),
    ).fetchall()
    result = {
        "ladder": ladder.slug,
        "from": None if start is None else start.payload(),
        "matches": replay.matches,
        "history_rows": written,
        "players_changed": len(changed),
        # How long writers waited, at most (to this point; the commit follows).
        "locked_seconds": round(time.monotonic() - locked, 3),
    }
    write_event(
        conn,
        "recalculation.completed",
        {
            "ladder": ladder.slug,
            "job_id": job_id,
            "matches": replay.matches,
            "players": len(changed),
        },
    )
    write_event(
        conn,
        "leaderboard.changed",
        {
            "ladder": ladder.slug,
            "reason": "recalculation",
            "players": [
                {name: row[name] for name in ("player_id", "handle", "rating", "games")}
                for row in (changed if len(changed) <= MAX_PLAYERS_IN_EVENT else [])
            ],
        },
    )
    store.mark_succeeded(conn, job_id, result)
    return {**result, "changed": changed}  # the standings written, for the rank index


# The seqs of a range's matches in rating order, hashed: equal digests mean the same
# matches in the same order. A count would let a void and a missed match cancel out.
RANGE_DIGEST = (
    "SELECT encode(sha256(convert_to("
    "coalesce(string_agg(seq::text || ',', '' ORDER BY played_at, seq), ''), 'UTF8')), 'hex')"
    " FROM matches WHERE {conditions}"
)


def _replay_missed_matches(
    conn: psycopg.Connection, ladder_id: int, start: Point | None, replay: Replay
) -> bool:
    """The range up to the watermark no longer holds exactly the matches replayed.

    Seqs are taken before commit, so the snapshot can miss a match whose seq is
    below the watermark (it committed just after); a void also changes the range.
    """
    conditions, params = (
        ["ladder_id = %s", "NOT voided", "seq <= %s"],
        [ladder_id, replay.watermark],
    )
    if start is not None:
        conditions.append("(played_at, seq) >= (%s, %s)")
        params += [start.played_at, start.seq]
    query = RANGE_DIGEST.format(conditions=" AND ".join(conditions))
    (digest,) = conn.cursor(row_factory=tuple_row).execute(query, params).fetchone()
    return digest != replay.digest.hexdigest()


def _players_to_write(
    conn: psycopg.Connection, ladder_id: int, start: Point | None, replay: Replay
) -> list[str]:
    """Everyone with a standing in the ladder for a full recalculation; from a point,
    only the players with a match in the range, before (their history is rewritten) or
    after it. A player with none keeps
    the rating they have now: the pre-start standings the replay began from are a
    snapshot's, and a match recorded since before the start point (not late for its
    players) must not be overwritten by them."""
    cur = conn.cursor(row_factory=tuple_row)
    if start is None:
        query = "SELECT player_id::text FROM standings WHERE ladder_id = %s"
        return [player for (player,) in cur.execute(query, (ladder_id,))]
    before = cur.execute(
        "SELECT DISTINCT player_id::text FROM rating_history"
        " WHERE ladder_id = %s AND (played_at, seq) >= (%s, %s)",
        (ladder_id, start.played_at, start.seq),
    )
    return sorted(replay.touched | {player for (player,) in before})


def write_history(conn: psycopg.Connection, lines: list[str], no_match: list[str] = ()) -> int:
    """COPY a replay's entries into rating history: match entries (`lines`) and entries
    without a match (`no_match`: resets and balances, with their reason).

    Straight into the table, under the writers' lock. Staging them first (outside
    it) and copying them across under it cost 7-9 s more in all for 2,000,000
    entries and held the lock for about 30 s instead of 35 s: the lock is this
    design's cost until the apply stops taking it (see `locked_seconds`)."""
    for batch, names in ((lines, HISTORY_COLUMNS), (no_match, HISTORY_COLUMNS + ", reason")):
        if not batch:
            continue
        with conn.cursor().copy(f"COPY rating_history ({names}) FROM STDIN") as copy:
            for offset in range(0, len(batch), 10_000):
                copy.write("".join(batch[offset : offset + 10_000]))
    return len(lines) + len(no_match)


def _key(row: list[str]) -> tuple[str, int]:
    return (row[2], int(row[1]))
