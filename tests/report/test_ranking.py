"""Intervals and tied ranks (``bench.report.ranking``) against known answers: the bootstrap
interval's coverage of a known mean, ties where the leaderboard's old ranks split equal
entries, and scores that are never printed onto the other side of a threshold."""

from __future__ import annotations

import numpy as np
import pytest

from bench.report import ranking
from bench.report.ranking import Interval


def test_one_seed_or_equal_seeds_give_a_point_and_no_printed_interval():
    one = ranking.interval([0.3])
    assert one == Interval(0.3, 0.3, 0.3, 1) and ranking.format_interval(one) == "—"
    same = ranking.interval([0.9667, 0.9667, 0.9667])
    assert same.low == same.high == pytest.approx(0.9667)
    assert ranking.interval([]) is None and ranking.interval([np.nan]) is None


def test_the_interval_covers_a_known_mean_about_95_times_in_100():
    """Normal samples of 10 seeds with mean 1: the percentile bootstrap covers the mean at
    close to its level (it runs a little short at small n, as is known)."""
    rng = np.random.default_rng(1)
    covered = [iv.low <= 1.0 <= iv.high
               for iv in (ranking.interval(rng.normal(1.0, 0.2, 10)) for _ in range(300))]
    assert 0.86 <= np.mean(covered) <= 0.99


def test_the_interval_width_matches_the_standard_error_on_many_seeds():
    v = np.random.default_rng(2).normal(0.0, 1.0, 200)
    iv = ranking.interval(v)
    expected = 2 * 1.96 * v.std(ddof=1) / np.sqrt(v.size)
    assert iv.high - iv.low == pytest.approx(expected, rel=0.15)
    assert iv.low < iv.center < iv.high


def test_overlapping_intervals_share_a_rank_and_separated_ones_do_not():
    # node/jax 0.0046 ± 0.0016 and node/torch 0.0046 ± 0.0014 (3 seeds each): one rank
    a = ranking.interval([0.0030, 0.0046, 0.0062])
    b = ranking.interval([0.0033, 0.0046, 0.0060])
    far = ranking.interval([0.20, 0.21, 0.22])
    assert ranking.tied_ranks([far, a, b], higher_is_better=False) == ["3", "1=", "1="]
    # three entries at 0.9667 on vowels (accuracy, higher is better): one shared rank
    same = [ranking.interval([0.9667, 0.9667]) for _ in range(3)]
    best = ranking.interval([0.99, 0.995])
    assert ranking.tied_ranks([*same, best, None], True) == ["2=", "2=", "2=", "1", "—"]


def test_a_tie_is_judged_against_the_first_entry_of_its_rank():
    """Overlap is not transitive: c overlaps b but not a, so c starts a new rank."""
    a, b, c = Interval(1.0, 0.9, 1.1, 3), Interval(1.15, 1.05, 1.25, 3), Interval(1.3, 1.2, 1.4, 3)
    assert ranking.tied_ranks([a, b, c], higher_is_better=False) == ["1=", "1=", "3"]


def test_a_score_is_never_printed_onto_the_other_side_of_its_threshold():
    assert ranking.against(0.8952, 0.9, higher_is_better=True) == "0.895"
    assert ranking.against(0.8999, 0.9, True) == "0.8999"
    assert ranking.against(0.9001, 0.9, True) == "0.90"
    assert ranking.against(0.98, 0.9, True) == "0.98"
    assert ranking.against(0.1004, 0.1, higher_is_better=False) == "0.1004"


def test_an_interval_is_printed_to_two_digits_of_its_half_width():
    assert ranking.format_interval(Interval(0.0511, 0.0457, 0.0591, 3)) == "[0.0457, 0.0591]"
    assert ranking.format_interval(Interval(0.31, 0.24, 0.47, 3)) == "[0.24, 0.47]"
    assert ranking.places(Interval(12.0, 12.0, 12.0, 1)) == 2
