"""The rank index: each ladder's board as a Redis sorted set (ElastiCache in AWS), so a
rank is a ZRANK and a page at any depth a ZRANGE, O(log n).

Postgres stays the truth; this is a copy that knows when it cannot answer. Keys of a
ladder (one hash tag, so every script's keys share a cluster slot):

- `rank:{slug}:live`: the generation reads use; absent → reads go to Postgres.
- `rank:{slug}:gens`: the generations writers update: the live one, and one being
  built by a rebuild (`sync.rebuild`), so a rebuild misses no write made meanwhile.
- `rank:{slug}:<gen>:board|who|seen|policy`: a generation (see `scripts/*.lua`), and
  `…:<gen>:bulk:*` the snapshot a rebuild loads before `flip.lua` merges it.
- `rank:{slug}:rebuilding|requested|reconcile`: one rebuild at a time, one rebuild
  request a minute from reads, one reconciliation per interval.

Every call fails open through the cache's circuit: None/False instead of an exception,
and the callers answer from Postgres. The repairs (a drop after a missed write, a
failed rebuild's cleanup) are tried even while the circuit is open.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from uuid import UUID

from ladder.cache import Cache
from ladder.rank_index.entries import decode, epoch_micros, position_key, score

APPLY_BATCH = 2000  # standings per script call: long enough to amortise, short enough
# (a few milliseconds) not to stall other clients, as Redis runs one script at a time
SCAN_CHUNK = 10_000
REBUILD_LOCK_MS = 120_000
REQUEST_TTL = 60  # seconds between two rebuild requests from reads of one ladder


@cache
def _script_text(name: str) -> str:
    return (Path(__file__).parent / "scripts" / f"{name}.lua").read_text()


@dataclass(frozen=True)
class Policy:
    """What a generation was built for: the board's rules and the ladder's provisional
    threshold (read with the ranks, so an index read needs no Postgres)."""

    min_games: int
    inactive_after_days: int | None
    provisional_games: int

    def fields(self) -> dict[str, str]:
        window = self.inactive_after_days
        return {
            "min_games": str(self.min_games),
            "window": "" if window is None else str(window * 86_400 * 1_000_000),
            "provisional_games": str(self.provisional_games),
        }


@dataclass(frozen=True)
class IndexedPage:
    start: int  # 0-based position of the first row
    size: int  # players on the board
    provisional_games: int
    rows: list[dict]  # player_id, handle, rating, games


@dataclass(frozen=True)
class IndexedRank:
    version: int | None  # of the player's standing as the index holds it (None: unheard of)
    rank: int | None  # 1-based; None off the board
    size: int


class RankIndex:
    def __init__(self, cache: Cache) -> None:
        self.cache = cache

    def base(self, slug: str) -> str:
        return self.cache.key(f"rank:{{{slug}}}")

    def _run(self, name: str, slug: str, args: list, *, always: bool = False) -> object:
        client = self.cache.client
        script = client.register_script(_script_text(name))  # EVALSHA, EVAL if unknown
        call = self.cache.call_always if always else self.cache.call
        return call(name, script, keys=[self.base(slug)], args=args, client=client)

    # -- writes ---------------------------------------------------------------

    def apply(self, slug: str, standings: Iterable[Sequence[str]], gen: str = "") -> bool:
        """Take standings as committed (`entries.indexed_columns` each) into every
        generation writers keep (or `gen`); False if Redis failed (the index may now
        miss them)."""
        batch: dict[str, Sequence[str]] = {}
        for standing in standings:
            held = batch.get(standing[0])  # a player once per call: their newest
            if held is None or int(held[1]) < int(standing[1]):
                batch[standing[0]] = standing
            if len(batch) == APPLY_BATCH:
                if not self._apply(slug, gen, batch.values()):
                    return False
                batch = {}
        return self._apply(slug, gen, batch.values())

    def _apply(self, slug: str, gen: str, batch: Iterable[Sequence[str]]) -> bool:
        args = [gen]
        for standing in batch:
            args.extend(standing)
        return len(args) == 1 or self._run("apply", slug, args) is not None

    def begin(self, slug: str, policy: Policy) -> str | None:
        """A new generation that writers update from now on, for a rebuild to fill."""
        client = self.cache.client
        base = self.base(slug)

        def start() -> str:
            # Random, not counted: a counter would start again after Redis lost its
            # data, and a rebuild begun before the loss could share its keys.
            gen = secrets.token_hex(6)
            with client.pipeline() as tx:  # MULTI: the policy is there before writers look
                tx.hset(f"{base}:{gen}:policy", mapping=policy.fields())
                tx.sadd(f"{base}:gens", gen)
                tx.execute()
            return gen

        return self.cache.call("begin", start)

    def load(self, slug: str, gen: str, standings: list[Sequence[str]], *, windowed: bool) -> bool:
        """Load a rebuild's snapshot into a generation's bulk keys: each standing's
        values (`entries.indexed_columns`) and whether it is ranked ('t'/'f'), plain
        commands pipelined (the version checks happen once, in `flip`, for the few
        players writers touched meanwhile). Unranked standings are remembered with their
        version, so an older update of theirs still changes nothing. False if Redis
        failed."""
        base = f"{self.base(slug)}:{gen}:bulk"
        client = self.cache.client
        ranked = [s for s in standings if s[6] == "t"]

        def send() -> bool:
            with client.pipeline(transaction=False) as pipe:
                if ranked:
                    pipe.zadd(f"{base}:board", {s[3]: s[2] for s in ranked})
                    if windowed:  # the inactivity rule's times (every ranked row has one)
                        pipe.zadd(f"{base}:seen", {s[0]: s[5] for s in ranked})
                who = {s[0]: f"{s[1]} {s[3] if s[6] == 't' else ''}" for s in standings}
                pipe.hset(f"{base}:who", mapping=who)
                pipe.execute()
            return True

        return not standings or bool(self.cache.call("load", send))

    def flip(self, slug: str, gen: str) -> bool:
        """Merge what writers wrote into a loaded generation and make it live; False if
        it was dropped meanwhile (or Redis failed)."""
        return bool(self._run("flip", slug, [gen]))

    def discard(self, slug: str, gen: str) -> None:
        """Give up a generation being built (its rebuild failed): writers stop updating
        it and its keys go."""
        base = self.base(slug)
        self.cache.call_always("discard", self.cache.client.srem, f"{base}:gens", gen)
        self._run("flip", slug, [gen], always=True)  # one writers no longer keep: deleted

    def drop(self, slug: str) -> bool:
        """Stop serving the ladder's index until a rebuild (its board policy changed, or
        a write could not reach it)."""
        return self._run("drop", slug, [], always=True) is not None

    def lock_rebuild(self, slug: str) -> str | None:
        """One rebuild of a ladder at a time: a token to unlock with, or None."""
        token = secrets.token_hex(8)
        won = self.cache.call(
            "lock",
            self.cache.client.set,
            f"{self.base(slug)}:rebuilding",
            token,
            nx=True,
            px=REBUILD_LOCK_MS,
        )
        return token if won else None

    def unlock_rebuild(self, slug: str, token: str) -> None:
        key = f"{self.base(slug)}:rebuilding"
        client = self.cache.client
        # Only our own lock: one that expired and was taken since is another's.
        self.cache.call_always(
            "unlock",
            client.eval,
            "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end",
            1,
            key,
            token,
        )

    def claim_turn(self, slug: str, what: str, seconds: int) -> bool:
        """Whether this caller takes the ladder's turn at `what` (one per `seconds`,
        whichever caller asks first)."""
        key = f"{self.base(slug)}:{what}"
        return bool(self.cache.call(what, self.cache.client.set, key, "1", nx=True, ex=seconds))

    def claim_rebuild_request(self, slug: str) -> bool:
        """Whether this caller should ask for a rebuild (one ask per ladder a minute)."""
        return self.claim_turn(slug, "requested", REQUEST_TTL)

    def forget_rebuild_request(self, slug: str) -> None:
        key = f"{self.base(slug)}:requested"
        self.cache.call_always("request", self.cache.client.delete, key)

    # -- reads ----------------------------------------------------------------

    def live(self, slug: str) -> str | None:
        return self.cache.call("live", self.cache.client.get, f"{self.base(slug)}:live")

    def rank(self, slug: str, player_id: UUID, now: datetime) -> IndexedRank | None:
        got = self._run("read", slug, [epoch_micros(now), "rank", str(player_id)])
        if got is None:
            return None
        version, rank = int(got[5]), int(got[6])
        return IndexedRank(
            version=None if version < 0 else version,
            rank=None if rank < 0 else rank + 1,
            size=int(got[1]),
        )

    def page(self, slug: str, now: datetime, op: str, *args: object) -> IndexedPage | None:
        """`op`: 'top' (limit), 'after'/'before' (rating, games, handle, limit), 'around'
        (player, limit). A page with start -1: `around` names a player off the board."""
        if op in ("after", "before"):
            rating, games, handle, limit = args
            args = (score(rating), position_key(games, handle), limit)
        got = self._run("read", slug, [epoch_micros(now), op, *map(str, args)])
        if got is None:
            return None
        values = got[6:]
        return IndexedPage(
            start=int(got[5]),
            size=int(got[1]),
            provisional_games=int(got[3]),
            rows=[decode(values[i], values[i + 1]) for i in range(0, len(values), 2)],
        )

    def scan(self, slug: str, gen: str) -> Iterator[dict]:
        """A generation's board in order, in chunks (for reconciliation); stops early if
        Redis fails (the caller checks the generation is still live after)."""
        board = f"{self.base(slug)}:{gen}:board"
        start = 0
        while True:
            chunk = self.cache.call(
                "scan",
                self.cache.client.zrange,
                board,
                start,
                start + SCAN_CHUNK - 1,
                withscores=True,
            )
            if not chunk:
                return
            for member_text, score_text in chunk:
                yield decode(member_text, score_text)
            start += SCAN_CHUNK

    def held(
        self, slug: str, gen: str, players: list[UUID]
    ) -> dict[UUID, tuple[int, str, float | None]]:
        """What a generation holds of players: version, member ('' off the board) and
        score (None off the board)."""
        if not players:
            return {}
        base = f"{self.base(slug)}:{gen}"
        got = self.cache.call(
            "held", self.cache.client.hmget, f"{base}:who", [str(p) for p in players]
        )
        held = {}
        if got is None:  # Redis failed: nothing known
            return {}
        for player, value in zip(players, got, strict=True):
            if value is not None:
                version, member_text = value.split(" ", 1)
                held[player] = (int(version), member_text, None)
        members = [held[p][1] for p in held if held[p][1]]
        scores = members and self.cache.call(
            "held", self.cache.client.zmscore, f"{base}:board", members
        )
        by_member = dict(zip(members, scores or [], strict=False))
        return {
            player: (version, text, by_member.get(text))
            for player, (version, text, _) in held.items()
        }

    def on_board(self, slug: str, gen: str, members: list[str]) -> set[str]:
        """Which of `members` a generation's board holds."""
        if not members:
            return set()
        scores = self.cache.call(
            "on_board", self.cache.client.zmscore, f"{self.base(slug)}:{gen}:board", members
        )
        return {m for m, score in zip(members, scores or [], strict=False) if score is not None}
