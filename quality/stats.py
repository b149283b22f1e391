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
        # At 0 or n successes the bound is exactly 0 or 1 (not its rounding error).
        low = 0.0 if successes == 0 else max(0.0, centre - half)
        high = 1.0 if successes == total else min(1.0, centre + half)
        return cls(successes, total, p, low, high)

    def as_dict(self) -> dict:
        return {
            "successes": self.successes,
            "total": self.total,
            "rate": self.rate,
            "low": self.low,
            "high": self.high,
        }


BETTER, WORSE, UNDECIDED = "better", "worse", "undecided"


@dataclass(frozen=True)
class Difference:
    """rate(a) − rate(b) of two independent proportions, with Newcombe's hybrid score
    interval (Newcombe 1998, method 10): built from the two Wilson intervals, so it stays
    honest with small counts where the plain normal interval of a difference does not.

    The verdict: a is `better` when the whole 95 % interval lies above zero, `worse` when it
    lies below, else `undecided` (not yet distinguishable at 95 %). Two disjoint Wilson
    intervals imply the same verdict, but the rule also decides cases where they overlap
    slightly, as a two-proportion test would.
    """

    estimate: float
    low: float
    high: float

    @classmethod
    def of(cls, a: Proportion, b: Proportion) -> Difference | None:
        if a.rate is None or b.rate is None:
            return None
        assert a.low is not None and a.high is not None and b.low is not None
        assert b.high is not None
        estimate = a.rate - b.rate
        low = estimate - math.sqrt((a.rate - a.low) ** 2 + (b.high - b.rate) ** 2)
        high = estimate + math.sqrt((a.high - a.rate) ** 2 + (b.rate - b.low) ** 2)
        return cls(estimate, max(-1.0, low), min(1.0, high))

    @property
    def verdict(self) -> str:
        if self.low > 0:
            return BETTER
        if self.high < 0:
            return WORSE
        return UNDECIDED

    def as_dict(self) -> dict:
        return {
            "estimate": self.estimate,
            "low": self.low,
            "high": self.high,
            "verdict": self.verdict,
        }
