"""Common base of every detector: PyOD's contract plus ``name``, ``card`` and ``predict_score``."""
import warnings

import numpy as np
from pyod.models.base import BaseDetector
from sklearn.utils.validation import check_is_fitted

from das.detectors._threads import one_thread
from das.detectors._validate import check_X, finite_scores
from das.detectors.errors import SubsampleWarning


class Detector(BaseDetector):
    """PyOD ``BaseDetector`` with the project's extras.

    Subclasses implement ``_fit_scores(X) -> train scores`` and ``_score(X)``;
    this class validates input, sets ``decision_scores_``/``threshold_``/``labels_``,
    computes on one thread (same seed → same scores on any machine) and guarantees
    finite float64 output.
    """

    name = "Detector"

    @property
    def card(self):
        """The parameter-free :class:`~detectors.cards.DetectorCard` of this algorithm."""
        from das.detectors.cards import get_card

        return get_card(self.name)

    def fit(self, X, y=None):
        """Fit on normal training rows ``X``; ``y`` is ignored. Returns ``self``.

        A detector with a ``max_train_rows`` parameter (the ones whose fit grows
        faster than linearly) fits on a seeded subsample of that many rows when
        given more, says so in a :class:`~detectors.errors.SubsampleWarning` and
        records it in ``subsample_`` (``decision_scores_`` are then those rows').
        """
        X = self._subsample(check_X(X, min_samples=2))
        self._set_n_classes(y)
        self.n_features_in_ = X.shape[1]
        with one_thread():
            self.decision_scores_ = finite_scores(self._fit_scores(X))
        self._process_decision_scores()
        return self

    def _subsample(self, X):
        cap = getattr(self, "max_train_rows", None)
        self.subsample_ = None
        if cap is None or len(X) <= cap:
            return X
        seed = getattr(self, "random_state", None)
        seed = seed if isinstance(seed, (int, np.integer)) else 0
        rows = np.sort(np.random.default_rng(seed).choice(len(X), size=int(cap), replace=False))
        self.subsample_ = {"rows": int(cap), "of": len(X), "seed": int(seed)}
        warnings.warn(f"{self.name} does not scale to {len(X):,} training rows: fitted on a seeded random "
                      f"subsample of {int(cap):,} (seed {seed}); set max_train_rows=None to use all rows",
                      SubsampleWarning, stacklevel=3)
        return X[rows]

    def decision_function(self, X):
        """Anomaly scores of ``X``: (n,) finite float64, higher = more anomalous."""
        check_is_fitted(self, "decision_scores_")
        X = check_X(X, n_features=self.n_features_in_)
        with one_thread():
            return finite_scores(self._score(X))

    def predict_score(self, X):
        """Alias of :meth:`decision_function` (the name synthesis programs call)."""
        return self.decision_function(X)

    def _fit_scores(self, X):  # pragma: no cover - abstract
        raise NotImplementedError

    def _score(self, X):  # pragma: no cover - abstract
        raise NotImplementedError
