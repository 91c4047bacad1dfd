"""Thin PyOD-backed detectors: IForest, OCSVM, LOF and KNN with PyOD's default settings.

The PyOD model is built at fit time as ``detector_``; neighbour counts are clamped to
``n_train - 1`` so that tiny training sets still work.
"""
import numpy as np
from pyod.models.iforest import IForest as _PyODIForest
from pyod.models.knn import KNN as _PyODKNN
from pyod.models.lof import LOF as _PyODLOF
from pyod.models.ocsvm import OCSVM as _PyODOCSVM

from das.detectors._forest_scoring import score_samples
from das.detectors.base import Detector

# Fits that grow faster than linearly are capped at these many training rows
# (a seeded subsample, with a warning). OCSVM's solver is quadratic or worse:
# ~40 s on 23k rows here, many minutes on 100k. Exact neighbour search is
# ~quadratic in 20+ dimensions. Every ODDS dataset of the benchmark is below both.
OCSVM_MAX_ROWS = 25_000
NEIGHBOUR_MAX_ROWS = 100_000


class _PyODWrapper(Detector):
    """A detector whose fitted PyOD model lives in ``detector_`` and scores new rows."""

    def _score(self, X):
        return self.detector_.decision_function(X)


class IForest(_PyODWrapper):
    """Isolation Forest (Liu et al., 2008) via PyOD: 100 trees, 256-row subsamples.

    Parameters
    ----------
    n_estimators : int, default=100
    max_samples : int, float or "auto", default="auto"
    max_features : float, default=1.0
    contamination : float, default=0.1
    random_state : int, RandomState or None, default=None
    n_jobs : int, default=1
        Scores do not depend on it (trees are seeded before they are built).
    """

    name = "IForest"

    def __init__(self, *, n_estimators=100, max_samples="auto", max_features=1.0,
                 contamination=0.1, random_state=None, n_jobs=1):
        super().__init__(contamination=contamination)
        self.n_estimators = n_estimators
        self.max_samples = max_samples
        self.max_features = max_features
        self.random_state = random_state
        self.n_jobs = n_jobs

    def _fit_scores(self, X):
        """PyOD's ``IForest.fit``, scoring the training rows once instead of twice.

        scikit-learn's fit scores them for ``offset_`` (the contamination
        percentile) and PyOD's scores them again for ``decision_scores_``; on
        large data each scoring costs about as much as growing the trees. Here
        the forest is grown without the offset, the rows are scored once, and
        ``offset_``, ``decision_scores_``, ``threshold_`` and ``labels_`` are set
        from those scores: the same numbers PyOD gives (a test compares them).
        """
        from pyod.utils.utility import invert_order
        from sklearn.ensemble import IsolationForest

        model = _PyODIForest(n_estimators=self.n_estimators, max_samples=self.max_samples,
                             max_features=self.max_features, contamination=self.contamination,
                             random_state=self.random_state, n_jobs=self.n_jobs)
        forest = IsolationForest(n_estimators=model.n_estimators, max_samples=model.max_samples,
                                 contamination="auto", max_features=model.max_features,
                                 bootstrap=model.bootstrap, n_jobs=model.n_jobs,
                                 random_state=model.random_state, verbose=model.verbose).fit(X)
        raw = score_samples(forest, X)
        forest.contamination = model.contamination
        forest.offset_ = np.percentile(raw, 100.0 * model.contamination)
        model.detector_ = forest
        model._set_n_classes(None)
        model.decision_scores_ = invert_order(raw - forest.offset_)
        model._process_decision_scores()
        self.detector_ = model
        return model.decision_scores_

    def _score(self, X):
        """PyOD's ``decision_function``: the same numbers, scored by :func:`score_samples`."""
        from pyod.utils.utility import invert_order

        forest = self.detector_.detector_
        return invert_order(score_samples(forest, X) - forest.offset_)


class OCSVM(_PyODWrapper):
    """One-class SVM (Schölkopf et al., 2001) via PyOD: RBF kernel, gamma = 1/d, nu = 0.5.

    Parameters
    ----------
    kernel : str, default="rbf"
    nu : float, default=0.5
    gamma : float or "auto", default="auto"
    contamination : float, default=0.1
    random_state : int or None, default=None
        Seeds the subsample of ``max_train_rows`` (None: seed 0); the solver is deterministic.
    max_train_rows : int or None, default=OCSVM_MAX_ROWS
        Fit on a seeded subsample of this many rows when given more (None: all rows).
    """

    name = "OCSVM"

    def __init__(self, *, kernel="rbf", nu=0.5, gamma="auto", tol=1e-3, max_iter=-1,
                 contamination=0.1, random_state=None, max_train_rows=OCSVM_MAX_ROWS):
        super().__init__(contamination=contamination)
        self.max_train_rows = max_train_rows
        self.kernel = kernel
        self.nu = nu
        self.gamma = gamma
        self.tol = tol
        self.max_iter = max_iter
        self.random_state = random_state

    def _fit_scores(self, X):
        self.detector_ = _PyODOCSVM(
            kernel=self.kernel, nu=self.nu, gamma=self.gamma, tol=self.tol,
            max_iter=self.max_iter, contamination=self.contamination,
        ).fit(X)
        return self.detector_.decision_scores_


class _NeighbourDetector(_PyODWrapper):
    """A PyOD neighbour model whose ``n_neighbors`` is clamped to ``n_train - 1`` at fit."""

    def _fit_scores(self, X):
        self.n_neighbors_ = max(1, min(self.n_neighbors, X.shape[0] - 1))
        self.detector_ = self._pyod_model().fit(X)
        return self.detector_.decision_scores_


class LOF(_NeighbourDetector):
    """Local Outlier Factor (Breunig et al., 2000) via PyOD in novelty mode, 20 neighbours.

    Parameters
    ----------
    n_neighbors : int, default=20
        Clamped to ``n_train - 1`` at fit (``n_neighbors_``).
    contamination : float, default=0.1
    random_state : int or None, default=None
        Seeds the subsample of ``max_train_rows`` (None: seed 0); LOF is deterministic.
    n_jobs : int, default=1
        Scores do not depend on it.
    max_train_rows : int or None, default=NEIGHBOUR_MAX_ROWS
        Fit on a seeded subsample of this many rows when given more (None: all rows).
    """

    name = "LOF"

    def __init__(self, *, n_neighbors=20, metric="minkowski", p=2, contamination=0.1,
                 random_state=None, n_jobs=1,
                 max_train_rows=NEIGHBOUR_MAX_ROWS):
        super().__init__(contamination=contamination)
        self.max_train_rows = max_train_rows
        self.n_neighbors = n_neighbors
        self.metric = metric
        self.p = p
        self.random_state = random_state
        self.n_jobs = n_jobs

    def _pyod_model(self):
        return _PyODLOF(n_neighbors=self.n_neighbors_, metric=self.metric, p=self.p,
                        contamination=self.contamination, n_jobs=self.n_jobs, novelty=True)


class KNN(_NeighbourDetector):
    """k-nearest-neighbour distance (Ramaswamy et al., 2000) via PyOD: k = 5, largest.

    Parameters
    ----------
    n_neighbors : int, default=5
        Clamped to ``n_train - 1`` at fit (``n_neighbors_``).
    method : {"largest", "mean", "median"}, default="largest"
    contamination : float, default=0.1
    random_state : int or None, default=None
        Seeds the subsample of ``max_train_rows`` (None: seed 0); KNN is deterministic.
    n_jobs : int, default=1
        Scores do not depend on it.
    max_train_rows : int or None, default=NEIGHBOUR_MAX_ROWS
        Fit on a seeded subsample of this many rows when given more (None: all rows).
    """

    name = "KNN"

    def __init__(self, *, n_neighbors=5, method="largest", metric="minkowski", p=2,
                 contamination=0.1, random_state=None, n_jobs=1,
                 max_train_rows=NEIGHBOUR_MAX_ROWS):
        super().__init__(contamination=contamination)
        self.max_train_rows = max_train_rows
        self.n_neighbors = n_neighbors
        self.method = method
        self.metric = metric
        self.p = p
        self.random_state = random_state
        self.n_jobs = n_jobs

    def _pyod_model(self):
        return _PyODKNN(n_neighbors=self.n_neighbors_, method=self.method, metric=self.metric,
                        p=self.p, contamination=self.contamination, n_jobs=self.n_jobs)
