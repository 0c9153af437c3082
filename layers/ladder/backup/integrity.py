"""What rating history must agree with, checked in one set-based query.

History entries are derived from matches and carry no foreign keys (migration
0011: checking them row by row doubled the cost of a bulk write). The restore
drill runs this on every restored backup, so a writer that ever broke the
invariants is found within a week, on the data itself.
"""

from __future__ import annotations

import psycopg
from psycopg.rows import tuple_row

from ladder.credentials import database_conninfo

# An entry is inconsistent when its ladder or player does not exist, or its match
# does not, is another ladder's, was not played by its player, or has another
# place in rating order. More than the foreign keys checked: they saw only ids.
INCONSISTENT_HISTORY = """
SELECT count(*) FROM rating_history h
LEFT JOIN ladders l ON l.id = h.ladder_id
LEFT JOIN players p ON p.id = h.player_id
LEFT JOIN matches m ON m.id = h.match_id
WHERE l.id IS NULL OR p.id IS NULL
   OR (h.match_id IS NOT NULL AND (m.id IS NULL OR m.ladder_id <> h.ladder_id
       OR h.player_id NOT IN (m.player_a, m.player_b)
       OR m.played_at <> h.played_at OR m.seq <> h.seq))
"""


def inconsistent_history(database_url: str) -> int:
    """How many rating history entries break the invariants above."""
    with psycopg.connect(database_conninfo(database_url), autocommit=True) as conn:
        cur = conn.cursor(row_factory=tuple_row)
        return cur.execute(INCONSISTENT_HISTORY).fetchone()[0]
