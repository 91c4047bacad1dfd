"""Common base of every detector: PyOD's contract plus ``name``, ``card`` and ``predict_score``."""
from pyod.models.base import BaseDetector
from sklearn.utils.validation import check_is_fitted

from detectors._threads import one_thread
from detectors._validate import check_X, finite_scores


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
        from detectors.cards import get_card

        return get_card(self.name)

    def fit(self, X, y=None):
        """Fit on normal training rows ``X``; ``y`` is ignored. Returns ``self``."""
        X = check_X(X, min_samples=2)
        self._set_n_classes(y)
        self.n_features_in_ = X.shape[1]
        with one_thread():
            self.decision_scores_ = finite_scores(self._fit_scores(X))
        self._process_decision_scores()
        return self

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
