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
