"""Keeping the rank index equal to Postgres: writes after commit, rebuilds, and the
scheduled reconciliation that measures drift and repairs it.

A rebuild never serves a half-built index: it fills a new generation while the live
one (if any) keeps serving, writers update both meanwhile, and a flip makes the new one
live in one step. A read that finds no live generation answers from Postgres and asks
for a rebuild (`request_rebuild`), so the index comes back by itself after Redis loses
its data.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from uuid import UUID

import psycopg

from ladder.board import DOWN, RANKED, board_params
from ladder.jobs import store
from ladder.jobs.dispatch import dispatch
from ladder.jobs.errors import JobDeferred
from ladder.ladders import LadderRow, find_ladder
from ladder.observability import MetricUnit, logger, metrics
from ladder.rank_index.entries import indexed, indexed_columns, member
from ladder.rank_index.store import APPLY_BATCH, Policy, RankIndex
from ladder.resources import Resources

REBUILD = "rank.rebuild"
SETTLE_SECONDS = 1.0  # how long reconciliation lets in-flight writes reach the index
MAX_CHECKED = 1000  # differences re-checked one by one; more means rebuild anyway
# Up to this many standings changed by a recalculation are applied in place (a few
# script calls); more are rebuilt into a new generation that goes live whole.
APPLY_INSTEAD_OF_REBUILD = 10_000


class RankIndexUnavailable(JobDeferred):
    """Redis did not answer: the rebuild waits for the sweeper to send it again."""


class RebuildBusy(JobDeferred):
    """Another rebuild of the ladder holds its lock: this one waits its turn."""


def policy_of(ladder: LadderRow) -> Policy:
    return Policy(
        min_games=ladder.board.min_games,
        inactive_after_days=ladder.board.inactive_after_days,
        provisional_games=ladder.rules.provisional_games,
    )


def after_write(res: Resources, slug: str, standings: list[Sequence[str]]) -> None:
    """Put committed standings into the index before the write answers (read-your-
    writes). If Redis fails, the index may now be behind: it is dropped, so reads go
    to Postgres, and a rebuild is scheduled, which waits until Redis answers. If even
    the drop fails, a reader reaching Redis later may see the index without this
    write until the rebuild runs (the sweeper sends it within a minute of Redis
    answering; counted as RankIndexMissedWrite)."""
    if res.index.apply(slug, standings):
        return
    metrics.add_metric(name="RankIndexMissedWrite", unit=MetricUnit.Count, value=1)
    res.index.drop(slug)
    schedule_rebuild(res, slug)


def after_recalculation(res: Resources, slug: str, changed: list[Sequence[str]]) -> None:
    """A recalculation's changes: applied like a write's when few; when many, a rebuild,
    so readers see the old board until the new one is whole, not a mix for the seconds
    an apply of that many takes (a player's own standing is checked against Postgres
    meanwhile)."""
    try:
        if len(changed) <= APPLY_INSTEAD_OF_REBUILD:
            after_write(res, slug, changed)
        else:
            rebuild(res, slug)
    except Exception as exc:  # the recalculation committed: its job succeeded regardless
        logger.warning("rank index not updated after a recalculation", ladder=slug, error=str(exc))
        try:
            schedule_rebuild(res, slug)
        except Exception:  # the reconciliation finds it
            logger.exception("could not schedule a rank index rebuild", ladder=slug)


def refresh(res: Resources, slug: str, players: list[UUID]) -> None:
    """Put players' current standings into the index (a write's answer replayed: the
    attempt that stored it may have died before it updated the index). Versions make
    it safe whenever it runs."""

    def read(conn: psycopg.Connection) -> list[list[str]]:
        rows = conn.execute(
            f"SELECT {indexed('s.')} FROM standings s JOIN ladders l ON l.id = s.ladder_id"
            " WHERE l.slug = %s AND s.player_id = ANY(%s)",
            (slug, players),
        ).fetchall()
        return [row["indexed"] for row in rows]

    after_write(res, slug, res.db.run(read))


def invalidate(res: Resources, slug: str) -> None:
    """After a change no update can express (the board's policy, opening balances):
    stop serving the ladder's index now and rebuild it."""
    res.index.drop(slug)
    schedule_rebuild(res, slug)


def schedule_rebuild(res: Resources, slug: str) -> UUID:
    """A rebuild job for the ladder, or the one already waiting."""

    def work(conn: psycopg.Connection) -> tuple[UUID, bool]:
        waiting = conn.execute(
            "SELECT id FROM jobs WHERE type = %s AND status = 'queued'"
            " AND payload->>'ladder' = %s LIMIT 1",
            (REBUILD, slug),
        ).fetchone()
        if waiting is not None:
            return waiting["id"], False
        return store.schedule_job(conn, REBUILD, {"ladder": slug}), True

    job_id, new = res.db.run(work)
    if new:
        dispatch(res.db, res.settings, [job_id])
    return job_id


def request_rebuild(res: Resources, slug: str) -> None:
    """From a read that found no live index: ask for a rebuild, once a minute at most
    whatever the number of readers (never raises: the read has its answer)."""
    try:
        if res.index.claim_rebuild_request(slug):
            schedule_rebuild(res, slug)
    except Exception as exc:
        logger.warning("could not ask for a rank index rebuild", ladder=slug, error=str(exc))


def rebuild(res: Resources, slug: str) -> dict:
    """Fill a new generation from one Postgres snapshot and make it live."""
    index = res.index
    token = index.lock_rebuild(slug)
    if token is None:
        if res.cache.degraded:
            raise RankIndexUnavailable("redis is unavailable")
        # Later, not never: that rebuild's snapshot may predate what this one must cover.
        raise RebuildBusy(f"another rebuild of ladder {slug!r} is running; try again soon")
    started = time.monotonic()
    try:
        ladder = res.db.run(lambda conn: find_ladder(conn, slug))
        gen = index.begin(slug, policy_of(ladder))
        if gen is None:
            raise RankIndexUnavailable("redis is unavailable")
        # The snapshot is taken after the generation exists: a write committed after it
        # reaches the new generation by itself; one committed before is in the snapshot.
        try:
            loaded = res.db.run(lambda conn: _load(conn, index, ladder, gen), snapshot=True)
        except BaseException:
            index.discard(slug, gen)
            raise
        if loaded is None:  # the ladder's policy changed meanwhile: its own rebuild follows
            index.discard(slug, gen)
        live = loaded is not None and index.flip(slug, gen)
        if loaded is not None and not live and res.cache.degraded:
            raise RankIndexUnavailable("redis failed during the rebuild")
    finally:
        index.unlock_rebuild(slug, token)
        index.forget_rebuild_request(slug)
    seconds = time.monotonic() - started
    if live:
        metrics.add_metric(name="RankIndexRebuilt", unit=MetricUnit.Count, value=1)
        metrics.add_metric(name="RankIndexRebuildSeconds", unit=MetricUnit.Seconds, value=seconds)
    # Not live: the ladder's policy changed meanwhile; whoever changed it asked for
    # another rebuild.
    return {"ladder": slug, "rebuilt": live, "players": loaded, "seconds": round(seconds, 3)}


def _load(conn: psycopg.Connection, index: RankIndex, ladder: LadderRow, gen: str) -> int | None:
    current = find_ladder(conn, ladder.slug)
    if policy_of(current) != policy_of(ladder):
        return None
    count, windowed = 0, current.board.inactive_after_days is not None
    # Every standing that ever changed, ranked or not ('t'/'f'): the index remembers
    # the version of those off the board too. Those who have played, in board order
    # (the board index's): Redis inserts into a sorted set at twice the speed when each
    # member lands next to the one before it.
    row = f"SELECT {indexed_columns()}, coalesce(({RANKED}), false) FROM standings"
    query = (
        f"COPY (({row} WHERE ladder_id = %(ladder)s AND games > 0 {DOWN}) UNION ALL"
        f" ({row} WHERE ladder_id = %(ladder)s AND games = 0 AND version > 0)) TO STDOUT"
    )
    # Redis loads one block while the next is read from Postgres: two processes busy
    # at once instead of in turn (a third of a 1M-player rebuild's time).
    with (
        ThreadPoolExecutor(max_workers=1) as sender,
        conn.cursor().copy(query, board_params(current, datetime.now(UTC))) as copy,
    ):
        sending: list[Future] = []
        # Text lines that are already the index's values (no escapes: ids, digits,
        # handles of [a-z0-9_], never null).
        for block in _lines(copy):
            count += sum(1 for standing in block if standing[6] == "t")
            sending.append(sender.submit(index.load, ladder.slug, gen, block, windowed=windowed))
            if len(sending) > 2 and not sending.pop(0).result():
                raise RankIndexUnavailable("redis failed during the rebuild")
        if not all(future.result() for future in sending):
            raise RankIndexUnavailable("redis failed during the rebuild")
    return count


def _lines(copy) -> Iterator[list[list[str]]]:
    """A COPY's rows as lists of text values, in blocks of APPLY_BATCH rows or fewer."""
    chunks, rows = [], 0
    for data in copy:  # a row per chunk, as libpq hands them
        chunks.append(bytes(data))
        rows += 1
        if rows >= APPLY_BATCH:
            yield _rows_of(chunks)
            chunks, rows = [], 0
    if chunks:
        yield _rows_of(chunks)


def _rows_of(chunks: list[bytes]) -> list[list[str]]:
    return [line.split("\t") for line in b"".join(chunks).decode().splitlines()]


def reconcile(
    res: Resources, slug: str, *, settle: float = SETTLE_SECONDS, inline: bool = False
) -> dict:
    """Compare the live index with Postgres, report the players it holds wrongly
    (RankIndexDrift) and repair them by a rebuild; with no live index, rebuild it. The
    rebuild runs here when `inline` (the CLI), else as a job (the sweeper has a minute;
    the worker, fifteen)."""
    index = res.index

    def repair() -> dict:
        if inline:
            return rebuild(res, slug)
        return {"rebuild_job": str(schedule_rebuild(res, slug))}

    gen = index.live(slug)
    if gen is None:
        if res.cache.degraded:
            return {"ladder": slug, "drift": None, "reason": "redis is unavailable"}
        return {"ladder": slug, "drift": None, **repair()}
    now = datetime.now(UTC)
    index.rank(slug, UUID(int=0), now)  # the read that applies the inactivity rule first
    suspects = res.db.run(lambda conn: _differences(conn, index, slug, gen, now), snapshot=True)
    if index.live(slug) != gen:
        return {"ladder": slug, "drift": None, "reason": "rebuilt meanwhile"}
    if suspects and len(suspects) <= MAX_CHECKED:
        suspects = _still_wrong(res, slug, gen, suspects, settle)
    drift = len(suspects)
    metrics.add_metric(name="RankIndexDrift", unit=MetricUnit.Count, value=drift)
    if drift:
        logger.warning("rank index drifted from postgres; rebuilding", ladder=slug, drift=drift)
        return {"ladder": slug, "drift": drift, **repair()}
    return {"ladder": slug, "drift": 0}


def _board_key(row: dict) -> tuple:
    return (-row["rating"], -row["games"], row["handle"])


def _differences(
    conn: psycopg.Connection, index: RankIndex, slug: str, gen: str, now: datetime
) -> dict[UUID, set[str]]:
    """Players where the index's board and Postgres's differ, walking both in board
    order (memory: one chunk of each, whatever the board's size), with the members the
    index showed for them."""
    ladder = find_ladder(conn, slug)
    indexed = index.scan(slug, gen)
    stored = _ranked_in_order(conn, ladder, now)
    suspects: dict[UUID, set[str]] = {}

    def suspect(row: dict, shown: bool) -> None:
        members = suspects.setdefault(row["player_id"], set())
        if shown:
            members.add(member(row["games"], row["handle"], row["player_id"]))

    a, b = next(indexed, None), next(stored, None)
    while a is not None or b is not None:
        if b is None or (a is not None and _board_key(a) < _board_key(b)):
            suspect(a, shown=True)
            a = next(indexed, None)
        elif a is None or _board_key(b) < _board_key(a):
            suspect(b, shown=False)
            b = next(stored, None)
        else:
            if a["player_id"] != b["player_id"]:
                suspect(a, shown=True)
                suspect(b, shown=False)
            a, b = next(indexed, None), next(stored, None)
    return suspects


def _ranked_in_order(conn: psycopg.Connection, ladder: LadderRow, now: datetime) -> Iterator[dict]:
    with conn.cursor(name="ranked_in_order") as cursor:
        cursor.itersize = 10_000
        cursor.execute(
            "SELECT player_id, handle, rating, games FROM standings"
            f" WHERE {RANKED} ORDER BY rating DESC, games DESC, handle",
            board_params(ladder, now),
        )
        yield from cursor


def _still_wrong(
    res: Resources, slug: str, gen: str, suspects: dict[UUID, set[str]], settle: float
) -> set[UUID]:
    """The suspects the index still holds wrongly: checked now, and those wrong checked
    again after `settle` seconds, so a write whose update was on its way to Redis (it
    committed, its answer is not out yet) is not counted."""
    wrong = _wrong_now(res, slug, gen, suspects, sorted(suspects))
    if wrong and settle:
        time.sleep(settle)
        wrong = _wrong_now(res, slug, gen, suspects, sorted(wrong))
    return wrong


def _wrong_now(
    res: Resources, slug: str, gen: str, suspects: dict[UUID, set[str]], players: list[UUID]
) -> set[UUID]:
    """The players whose entry in the index is not what Postgres holds, or for whom a
    member the walk saw is still on the board and is not theirs. The index is read
    first: an entry newer than Postgres's is then no write in flight but an index ahead
    of its database (one restored from a backup, say), and wrong too."""
    held = res.index.held(slug, gen, players)
    still_there = res.index.on_board(slug, gen, [m for p in players for m in suspects[p]])

    def read(conn: psycopg.Connection) -> dict[UUID, dict]:
        ladder = find_ladder(conn, slug)
        rows = conn.execute(
            f"SELECT player_id, handle, rating, games, coalesce(({RANKED}), false) AS ranked"
            " FROM standings WHERE ladder_id = %(ladder)s AND player_id = ANY(%(players)s)",
            {**board_params(ladder, datetime.now(UTC)), "players": players},
        ).fetchall()
        return {row["player_id"]: row for row in rows}

    stored = res.db.run(read)
    wrong = set()
    for player in players:
        row = stored.get(player)
        _, *entry = held.get(player, (-1, "", None))
        expected = (
            (member(row["games"], row["handle"], player), -row["rating"])
            if row is not None and row["ranked"]
            else ("", None)
        )
        strays = {m for m in suspects[player] if m in still_there and m != expected[0]}
        if tuple(entry) != expected or strays:
            wrong.add(player)
    return wrong


def reconcile_due(res: Resources) -> list[dict]:
    """What the sweeper runs each minute: reconcile each ladder whose turn has come (every
    `rank_reconcile_seconds`, whichever sweeper gets there first)."""
    slugs = res.db.run(
        lambda conn: [row["slug"] for row in conn.execute("SELECT slug FROM ladders ORDER BY id")]
    )
    results = []
    for slug in slugs:
        if res.index.claim_turn(slug, "reconcile", res.settings.rank_reconcile_seconds):
            results.append(reconcile(res, slug))
    return results
