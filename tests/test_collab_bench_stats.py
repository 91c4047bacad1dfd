"""Win count and paired one-tailed t-test against hand-computed values."""
import math

import pytest

from das.collab.bench.stats import paired_comparison, paired_ttest_greater, win_count


def test_comparison_matches_hand_computation():
    base, method = [0.5, 0.6, 0.7], [0.6, 0.65, 0.7]
    c = paired_comparison(base, method)
    # diffs 0.1, 0.05, 0 -> mean 0.05, sd 0.05, t = sqrt(3), df = 2
    # one-tailed p for Student t with 2 df: 0.5 * (1 - t / sqrt(t^2 + 2)) = 0.5 * (1 - sqrt(3/5))
    assert c.n == 3
    assert c.base_mean == pytest.approx(0.6)
    assert c.method_mean == pytest.approx(0.65)
    assert c.delta == pytest.approx(0.05)
    assert c.percent == pytest.approx(100 * 0.05 / 0.6)
    assert (c.wins, c.ties, c.losses) == (2, 1, 0)
    assert c.p_value == pytest.approx(0.5 * (1 - math.sqrt(3 / 5)), rel=1e-9)


def test_ttest_is_one_tailed_in_favour_of_the_method():
    base, worse = [0.5, 0.6, 0.7], [0.4, 0.55, 0.7]
    # the mirrored case: same |t|, opposite direction -> p = 1 - 0.1127
    assert paired_ttest_greater(base, worse) == pytest.approx(1 - 0.5 * (1 - math.sqrt(3 / 5)))


def test_win_count_counts_ties_separately():
    assert win_count([1, 2, 3, 4], [2, 2, 1, 5]) == (2, 1, 1)


def test_undefined_p_values_are_nan():
    assert math.isnan(paired_ttest_greater([0.5], [0.7]))
    assert math.isnan(paired_ttest_greater([0.5, 0.6], [0.5, 0.6]))
    assert paired_ttest_greater([0.5, 0.6], [0.6, 0.7]) == 0.0  # constant positive gain: t = +inf


def test_empty_and_mismatched_inputs():
    assert paired_comparison([], []).n == 0
    with pytest.raises(ValueError, match="differ in length"):
        paired_comparison([0.1, 0.2], [0.1])
