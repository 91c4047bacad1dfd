"""CoLLaTe-style fusion: alignment (Eq. 7), collaborative loss (Eq. 10), determinism."""
import numpy as np
import pytest
import torch

from das.collab.collate import (CollateFusion, alignment_loss, collaborative_loss, fit_half_gaussian,
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


def test_guard_falls_back_to_the_detector_when_the_classifier_is_uninformative(rng):
    from das.collab.metrics import auc_pr
    from das.collab.planted import plant_kinds

    def norm(Z):
        return 10.0 + 3.0 * np.linalg.norm(Z, axis=1)

    def noise(n):  # the classifier separates D_syn, yet scores every other row alike
        return rng.uniform(0.0, 0.5, n)

    X, X_syn = rng.normal(size=(800, 6)), rng.normal(size=(80, 6)) * 2.5
    fusion = CollateFusion(epochs=100, random_state=0).fit(norm(X), noise(800), X, norm(X_syn),
                                                           rng.uniform(0.5, 1.0, 80), X_syn)
    X_test = np.vstack([rng.normal(size=(400, 6)), rng.normal(size=(40, 6)) * 2])
    y_test, clf_test = np.r_[np.zeros(400), np.ones(40)], noise(len(X_test))
    unguarded = auc_pr(y_test, fusion.score(norm(X_test), clf_test, X_test))
    X_pl, kinds = plant_kinds(X, 40, random_state=0)
    fusion.guard(norm(X), noise(800), X, norm(X_pl), noise(len(X_pl)), X_pl, kinds)
    guarded = auc_pr(y_test, fusion.score(norm(X_test), clf_test, X_test))
    base = auc_pr(y_test, norm(X_test))
    assert set(fusion.guard_table_) == {0.0, 0.25, 0.5, 0.75, 1.0}
    assert guarded >= base - 0.02 and guarded > unguarded + 0.05, (base, guarded, unguarded)


def test_rows_that_are_all_one_point_get_equal_weights_not_an_error(rng):
    """No column varies: the representation is empty, so neither distance can tell rows apart."""
    base, clf, _, base_syn, clf_syn, _ = _toy(rng, n=200, n_syn=20, d=3)
    X, X_syn = np.ones((200, 3)), np.ones((20, 3))
    fusion = CollateFusion(epochs=20, random_state=0).fit(base, clf, X, base_syn, clf_syn, X_syn)
    assert fusion.lam1_mean_ == 0.5
    assert np.all(np.isfinite(fusion.score(base, clf, X)))
