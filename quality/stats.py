"""Small statistics on counts the database already aggregated (no rows in Python)."""

from __future__ import annotations

import math
from dataclasses import dataclass

Z_95 = 1.959963984540054  # two-sided 95 % normal quantile


@dataclass(frozen=True)
class Proportion:
    """k successes out of n, with the Wilson score interval (Wilson 1927).

    Wilson rather than the normal approximation: it stays inside [0, 1] and is honest with
    the small counts a new model or a rare label has.
    """

    successes: int
    total: int
    rate: float | None
    low: float | None
    high: float | None

    @classmethod
    def of(cls, successes: int, total: int, z: float = Z_95) -> Proportion:
        if total <= 0:
            return cls(successes, 0, None, None, None)
        p = successes / total
        z2 = z * z
        denominator = 1 + z2 / total
        centre = (p + z2 / (2 * total)) / denominator
        half = z * math.sqrt(p * (1 - p) / total + z2 / (4 * total * total)) / denominator
        return cls(successes, total, p, max(0.0, centre - half), min(1.0, centre + half))

    def as_dict(self) -> dict:
        return {
            "successes": self.successes,
            "total": self.total,
            "rate": self.rate,
            "low": self.low,
            "high": self.high,
        }
