"""CoLLaTe-style fusion: alignment (Eq. 7), collaborative loss (Eq. 10), determinism."""
import numpy as np
import pytest
import torch

from collab.collate import (CollateFusion, alignment_loss, collaborative_loss, fit_half_gaussian,
                            histogram_kl)


def _toy(rng, n=800, n_syn=80, d=6):
    X = rng.normal(size=(n, d))
    X_syn = rng.normal(size=(n_syn, d)) * 2.5
    base = 10.0 + 3.0 * np.linalg.norm(X, axis=1)  # detector: far from the centre = anomalous
    base_syn = 10.0 + 3.0 * np.linalg.norm(X_syn, axis=1)
    clf = np.abs(rng.normal(0.0, 0.1, n))  # classifier: mostly ~0 on normals
    clf_syn = np.clip(rng.normal(0.7, 0.2, n_syn), 0, 1)
    return base, clf, X, base_syn, clf_syn, X_syn


def test_half_gaussian_fit_is_std_of_mirrored_set():
    s = np.array([0.1, 0.2, 0.4])
    assert fit_half_gaussian(s) == pytest.approx(np.std(np.r_[s, -s]))


def test_collaborative_loss_matches_pairwise_definition(rng):
    n = 7
    s_hat, s, S, l1 = (torch.as_tensor(rng.random(n)) for _ in range(4))
    l2 = 1 - l1
    naive = 0.0
    for i in range(n):
        for j in range(n):
            naive += (l1[i] * (s[i] - s[j]) + l2[i] * (S[i] - S[j])) * (s_hat[i] - s_hat[j])
    assert float(collaborative_loss(s_hat, s, S, l1, l2)) == pytest.approx(-float(naive) / n**2)


def test_collaborative_loss_rewards_agreeing_ranking():
    s = torch.tensor([0.0, 0.5, 1.0])
    ones = torch.ones(3)
    agree = collaborative_loss(s, s, s, ones / 2, ones / 2)
    disagree = collaborative_loss(1 - s, s, s, ones / 2, ones / 2)
    assert float(agree) < 0 < float(disagree)


def test_alignment_loss_hand_computed():
    z = torch.tensor([0.0, 2.0])  # mean 1, unbiased var 2
    mu, var = np.sqrt(2 / np.pi), 1 - 2 / np.pi
    nll = -np.log(2 / np.sqrt(2 * np.pi)) + 0.5 * (0 + 4) / 2
    expected = nll + 1.0 * (1 - mu) ** 2 + 2.0 * (2 - var) ** 2
    assert float(alignment_loss(z, 1.0, 2.0)) == pytest.approx(expected)


def test_alignment_reduces_kl_and_is_monotone(rng):
    base, clf, X, base_syn, clf_syn, X_syn = _toy(rng)
    fusion = CollateFusion(epochs=20, random_state=0).fit(base, clf, X, base_syn, clf_syn, X_syn)
    before = histogram_kl(fusion.scale(base), clf)
    after = histogram_kl(fusion.align(base), clf)
    assert after < 0.25 * before
    assert fusion.align_history_[-1] < fusion.align_history_[0]
    grid = np.linspace(base.min() - 5, base.max() + 20, 200)
    assert np.all(np.diff(fusion.align(grid)) >= 0)


def test_collate_loss_decreases_and_is_deterministic(rng):
    data = _toy(rng)
    first = CollateFusion(random_state=3).fit(*data)
    second = CollateFusion(random_state=3).fit(*data)
    assert np.mean(first.loss_history_[-10:]) < first.loss_history_[0]
    base, clf, X, base_syn, clf_syn, X_syn = data
    np.testing.assert_array_equal(first.score(base, clf, X), second.score(base, clf, X))
    other = CollateFusion(random_state=4).fit(*data)
    assert not np.array_equal(first.score(base, clf, X), other.score(base, clf, X))


def test_collate_ranks_synthetic_above_normals(rng):
    base, clf, X, base_syn, clf_syn, X_syn = _toy(rng)
    fusion = CollateFusion(random_state=0).fit(base, clf, X, base_syn, clf_syn, X_syn)
    normal, anomal = fusion.score(base, clf, X), fusion.score(base_syn, clf_syn, X_syn)
    assert np.mean(anomal[:, None] > normal[None, :]) > 0.95
    assert 0.0 < fusion.lam1_mean_ < 1.0
