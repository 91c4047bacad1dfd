"""DRL: seeding, the learned decomposition and the default configuration."""
import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from das.detectors import make_detector
from das.detectors.drl import _orthonormal_basis


@pytest.fixture(scope="module")
def blobs():
    rng = np.random.default_rng(0)
    latent = rng.normal(size=(400, 2))
    mix = rng.normal(size=(2, 6))
    X = latent @ mix + 0.05 * rng.normal(size=(400, 6))  # normals near a 2-D plane
    off = rng.normal(size=(40, 6)) * 2                   # anomalies off the plane
    return X[:300], np.r_[X[300:], off], np.r_[np.zeros(100), np.ones(40)]


def test_basis_is_orthonormal():
    B = _orthonormal_basis(5, 128, np.random.default_rng(0))
    assert B.shape == (5, 128)
    np.testing.assert_allclose(B @ B.T, np.eye(5), atol=1e-12)


def test_same_seed_same_scores_other_seed_differs(blobs):
    X, T, _ = blobs
    a = make_detector("DRL", epochs=5, random_state=7).fit(X).predict_score(T)
    b = make_detector("DRL", epochs=5, random_state=7).fit(X).predict_score(T)
    c = make_detector("DRL", epochs=5, random_state=8).fit(X).predict_score(T)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_training_learns_the_normal_subspace(blobs):
    X, T, y = blobs
    det = make_detector("DRL", epochs=30, random_state=0).fit(X)
    assert roc_auc_score(y, det.predict_score(T)) > 0.9
    # Normal training rows are decomposed better than the held-out anomalies.
    assert np.median(det.decision_scores_) < np.median(det.predict_score(T[y == 1]))


def test_default_configuration_on_tiny_data(blobs):
    X, T, y = blobs
    det = make_detector("DRL", random_state=0)
    assert (det.epochs, det.batch_size, det.lr, det.hidden_dim, det.n_basis) == (
        200, 512, 0.05, 128, 5)
    det.fit(X[:60])
    assert det.model_.encoder[0].out_features == 128
    assert all(m.bias is None for m in det.model_.modules() if hasattr(m, "bias"))
    scores = det.predict_score(T)
    assert np.isfinite(scores).all() and roc_auc_score(y, scores) > 0.8


def test_respects_torch_thread_setting(blobs):
    import torch

    X, _, _ = blobs
    before = torch.get_num_threads()
    make_detector("DRL", epochs=1, random_state=0).fit(X)
    assert torch.get_num_threads() == before


def test_callers_global_torch_rng_is_left_alone(blobs):
    import torch

    X, _, _ = blobs
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    make_detector("DRL", epochs=1, random_state=0).fit(X)
    assert torch.equal(torch.rand(3), expected)


@pytest.mark.parametrize("params, message", [
    ({"epochs": 0}, "epochs must be a positive integer"),
    ({"batch_size": 2.5}, "batch_size must be a positive integer"),
    ({"n_basis": 9, "hidden_dim": 4}, "cannot exceed hidden_dim"),
    ({"diversity_fraction": 0.0}, "diversity_fraction must be in"),
])
def test_bad_hyper_parameters_are_named(blobs, params, message):
    from das.detectors import DetectorParameterError

    with pytest.raises(DetectorParameterError, match=message):
        make_detector("DRL", **params).fit(blobs[0])


def test_a_fitted_drl_pickles_and_scores_the_same(blobs):
    """Its network's class is local to a function: it pickles as its weights and is rebuilt."""
    import pickle

    X, T, _ = blobs
    det = make_detector("DRL", epochs=3, hidden_dim=16, random_state=0).fit(X)
    again = pickle.loads(pickle.dumps(det))
    np.testing.assert_array_equal(again.predict_score(T), det.predict_score(T))
    assert hasattr(det, "model_") and again.model_ is not det.model_


def test_a_round_trip_leaves_torchs_global_generator_as_it_was(blobs):
    import pickle

    import torch

    X, _, _ = blobs
    det = make_detector("DRL", epochs=1, hidden_dim=8, random_state=0).fit(X)
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    pickle.loads(pickle.dumps(det))
    assert torch.equal(torch.rand(3), expected)
