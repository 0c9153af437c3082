"""`make bench`: each benchmark as a ratio against a baseline measured in the same run.

Writes `.bench/results.json`: a list of
`{name, value, unit, baseline, baseline_value, ratio, target}`. Absolute
numbers on a shared machine are noise; ratios within one run are not.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / ".bench" / "results.json"


@dataclass
class Result:
    name: str
    value: float
    unit: str
    baseline: str
    baseline_value: float
    ratio: float
    target: float

    def line(self) -> str:
        verdict = "ok" if self.ratio <= self.target else "OVER TARGET"
        return (
            f"{self.name}: {self.value:.3f} {self.unit} vs {self.baseline} "
            f"{self.baseline_value:.3f} {self.unit} = {self.ratio:.3g}x "
            f"(target <= {self.target}x) {verdict}"
        )


def generate_ladder_sql(players: int, matches: int) -> str:
    """SQL that fills an empty, migrated database with `players` and `matches` of the
    default ladder
    (distinct random pairs, all scores, one match a second, seq in order)."""
    return f"""
INSERT INTO players (id, handle, display_name, email)
SELECT gen_random_uuid(), 'player_' || i, 'Player ' || i, 'p' || i || '@example.com'
FROM generate_series(1, {players}) i;
INSERT INTO standings (ladder_id, player_id, handle, rating, games)
SELECT 1, id, handle, 1500, 0 FROM players;
CREATE TEMP TABLE ids AS SELECT id, row_number() OVER (ORDER BY id) AS n FROM players;
CREATE UNIQUE INDEX ON ids (n);
INSERT INTO matches (id, ladder_id, seq, played_at, player_a, player_b, score_a)
SELECT gen_random_uuid(), 1, g, timestamptz '2025-01-01' + g * interval '1 second', a.id, b.id,
       (ARRAY[0, 0.5, 1])[1 + g % 3]
FROM generate_series(1::bigint, {matches}) g
JOIN ids a ON a.n = 1 + (g * 7919) % {players}
JOIN ids b ON b.n = 1 + ((g * 7919) % {players} + 1 + g % ({players} - 1)) % {players};
SELECT setval('match_seq', {matches});
ANALYZE;
"""
