"""Sum fusion (LLM-DAS Eq. 7) and thresholds against hand-computed values."""
import numpy as np
import pytest

from das.collab.fusion import MinMax, fit_minmax, fit_sum_fusion
from das.collab.threshold import ThresholdError, pot_threshold


def test_minmax_fitted_on_train_and_not_clipped():
    scaler = fit_minmax([2.0, 4.0, 6.0])
    assert scaler == MinMax(lo=2.0, scale=4.0)
    # 8 is beyond the training max: 1.5, not clipped to 1; 0 maps to -0.5.
    np.testing.assert_allclose(scaler.transform([2.0, 4.0, 8.0, 0.0]), [0.0, 0.5, 1.5, -0.5])


def test_sum_fusion_hand_computed():
    # f on train: [1, 3] -> lo 1, scale 2; f~ on train: [0, 0.5] -> lo 0, scale 0.5.
    fusion = fit_sum_fusion([1.0, 3.0], [0.0, 0.5], lam=1.0)
    # test: f = [2, 5], f~ = [0.25, 1.0] -> [0.5 + 0.5, 2.0 + 2.0]
    np.testing.assert_allclose(fusion.fuse([2.0, 5.0], [0.25, 1.0]), [1.0, 4.0])
    half = fit_sum_fusion([1.0, 3.0], [0.0, 0.5], lam=0.5)
    np.testing.assert_allclose(half.fuse([2.0, 5.0], [0.25, 1.0]), [0.75, 3.0])
    base_only = fit_sum_fusion([1.0, 3.0], [0.0, 0.5], lam=0.0)
    np.testing.assert_allclose(base_only.fuse([2.0, 5.0], [0.25, 1.0]), [0.5, 2.0])


def test_constant_training_scores_only_shift():
    # A random forest can give probability 0 to every training normal.
    fusion = fit_sum_fusion([1.0, 3.0], [0.0, 0.0, 0.0])
    assert fusion.clf == MinMax(lo=0.0, scale=1.0)
    np.testing.assert_allclose(fusion.fuse([3.0], [0.7]), [1.7])


@pytest.mark.parametrize("bad", [[], [1.0, np.nan], [np.inf]])
def test_minmax_rejects_bad_scores(bad):
    with pytest.raises(ValueError, match="finite"):
        fit_minmax(bad)


def test_negative_lambda_refused():
    with pytest.raises(ValueError, match="lam"):
        fit_sum_fusion([0.0, 1.0], [0.0, 1.0], lam=-1.0)


def test_pot_matches_exponential_tail_quantile():
    # Exponential(1): the 1 - risk quantile is -log(risk); POT extrapolates beyond the data it sees.
    scores = np.random.default_rng(0).exponential(size=20000)
    z = pot_threshold(scores, risk=1e-3, level=0.98)
    assert z == pytest.approx(-np.log(1e-3), rel=0.1)
    assert z > np.quantile(scores, 0.98)


def test_pot_degenerate_and_bad_input():
    assert pot_threshold(np.ones(50)) == 1.0  # no excesses: falls back to the max
    with pytest.raises(ThresholdError):
        pot_threshold([1.0])
    with pytest.raises(ThresholdError):
        pot_threshold(np.arange(10.0), risk=0.0)


def test_one_extreme_training_score_does_not_squash_the_rest():
    base = np.linspace(0.0, 1.0, 200)
    spiked = np.r_[base, 1e6]  # one training score a million times the others
    assert fit_minmax(spiked).scale == pytest.approx(fit_minmax(base).scale, rel=0.05)
    # The detector still counts: a high base score outranks a moderate classifier score
    # (with the plain min-max the spike scales every base score to ~1e-6 and this fails).
    fusion = fit_sum_fusion(spiked, np.linspace(0.0, 1.0, 200))
    assert fusion.fuse([0.9], [0.0])[0] > fusion.fuse([0.1], [0.3])[0]


def test_trimmed_minmax_falls_back_to_the_plain_range():
    # Most scores tied: the trimmed range is zero, the plain one is not.
    assert fit_minmax([0.0] * 50 + [1.0]) == MinMax(lo=0.0, scale=1.0)
    assert fit_minmax([2.0, 4.0, 6.0], trim=0.0) == MinMax(lo=2.0, scale=4.0)
    with pytest.raises(ValueError, match="trim"):
        fit_minmax([0.0, 1.0], trim=0.5)
