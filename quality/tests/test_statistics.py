"""The intervals and the verdict rule, against published figures (no database)."""

import pytest

from quality.comparison import verdict_sentence
from quality.stats import Difference, Proportion


def test_wilson_interval_matches_newcombes_worked_example():
    # Newcombe (1998), "Two-sided confidence intervals for the single proportion", 81/263.
    p = Proportion.of(81, 263)
    assert p.rate == pytest.approx(0.30798, abs=1e-5)
    assert (p.low, p.high) == (pytest.approx(0.2553, abs=1e-4), pytest.approx(0.3662, abs=1e-4))


def test_wilson_interval_stays_inside_zero_and_one():
    none_right, all_right = Proportion.of(0, 10), Proportion.of(10, 10)
    assert none_right.low == 0 and 0.2 < none_right.high < 0.35
    assert all_right.high == 1 and 0.65 < all_right.low < 0.8
    assert Proportion.of(0, 0).rate is None


def test_difference_interval_matches_newcombes_method_10():
    # Newcombe (1998), "Interval estimation for the difference between independent
    # proportions", example (a): 56/70 − 48/80, hybrid score interval 0.0524 to 0.3339.
    difference = Difference.of(Proportion.of(56, 70), Proportion.of(48, 80))
    assert difference.estimate == pytest.approx(0.2)
    assert difference.low == pytest.approx(0.0524, abs=1e-4)
    assert difference.high == pytest.approx(0.3339, abs=1e-4)
    assert difference.verdict == "better"


def test_verdict_is_better_worse_or_undecided_by_where_the_interval_lies():
    assert Difference.of(Proportion.of(48, 80), Proportion.of(56, 70)).verdict == "worse"
    assert Difference.of(Proportion.of(9, 10), Proportion.of(8, 10)).verdict == "undecided"
    assert Difference.of(Proportion.of(9, 10), Proportion.of(0, 0)) is None


def test_verdict_sentence_says_it_in_words():
    better = Difference.of(Proportion.of(56, 70), Proportion.of(48, 80))
    assert verdict_sentence("digits v2", "digits v1", better, evidence="feedback") == (
        "digits v2 is more accurate than digits v1 at 95 % confidence (by 5.2 to 33.4 points)."
    )
    worse = Difference.of(Proportion.of(48, 80), Proportion.of(56, 70))
    assert "is less accurate than digits v1 at 95 % confidence (by 5.2 to 33.4 points)" in (
        verdict_sentence("digits v2", "digits v1", worse, evidence="feedback")
    )
    close = Difference.of(Proportion.of(9, 10), Proportion.of(8, 10))
    assert "are not yet distinguishable at 95 % confidence" in verdict_sentence(
        "a", "b", close, evidence="feedback"
    )
    assert verdict_sentence("a", "b", None, evidence="feedback") == (
        "Not enough feedback yet to compare a with b."
    )
