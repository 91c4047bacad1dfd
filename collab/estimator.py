"""``EnhancedDetector``: a detector enhanced by a certified synthesis program.

PyOD conventions: ``fit(X)`` on normal (unlabelled) data returns ``self``;
``decision_function(X)`` gives scores where higher = more anomalous;
``predict(X)`` gives labels 1 = anomaly, 0 = normal using ``threshold_``
fitted on the training scores; ``decision_scores_``, ``labels_`` and
``threshold_`` describe the training data. ``__init__`` only stores its
arguments (scikit-learn contract), so ``clone``/``get_params`` and
``Pipeline`` work.

``program`` selects the synthesis program:

- ``"certified"`` (default): the store's default certified program for the
  detector (``ProgramStore.certified``); none -> :class:`NotCertified` telling
  the user to run ``das regenerate``.
- a sha256 (or unique prefix): looked up and integrity-checked in the store
  (``TamperedProgram`` on a hash mismatch) and refused unless certified for
  this detector.
- a raw source string (research use, e.g. transfer experiments): not required
  to be certified, but still statically audited and executed only inside the
  sandbox, like every program.
"""
import contextlib
import hashlib
import os
import re

import numpy as np
from sklearn.base import BaseEstimator, clone
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_array, check_is_fitted

from collab import enhance
from collab.threshold import contamination_threshold, pot_threshold

FUSIONS = ("sum", "collate")
THRESHOLDS = ("contamination", "pot")
_SHA_PREFIX = re.compile(r"^[0-9a-f]{8,64}$")


class ProgramRefused(RuntimeError):
    """The requested program may not run for this detector."""


@contextlib.contextmanager
def _opened(store):
    """Yield an open store: ``store`` itself, or one opened (and closed) from a path/None."""
    if store is None or isinstance(store, (str, os.PathLike)):
        from program_store import ProgramStore

        opened = ProgramStore(store)
        try:
            yield opened
        finally:
            opened.close()
    else:
        yield store  # an already-open store (duck-typed: certified/get/resolve)


def _seed(random_state):
    """An int seed from ``random_state`` (None: a fresh random seed, as in scikit-learn)."""
    if isinstance(random_state, (int, np.integer)):
        return int(random_state)
    return int(check_random_state(random_state).randint(0, 2**31 - 1))


def resolve_program(program, detector_name, store=None):
    """Return ``(source, sha256_or_None)`` for the ``program`` argument.

    Raises
    ------
    program_store.NotCertified
        No certified program for ``detector_name`` (or the sha is not certified).
    program_store.TamperedProgram
        The stored source no longer matches its hash.
    ProgramRefused
        The certified program belongs to another detector.
    ValueError
        ``program`` is neither "certified", a sha256 nor a program source.
    """
    from program_store import NotCertified

    if not isinstance(program, str) or not program.strip():
        raise ValueError("program must be 'certified', a sha256 or the source of generate_hard_anomalies")
    if program == "certified":
        try:
            with _opened(store) as opened:
                rec = opened.certified(detector_name)
        except NotCertified as exc:
            raise NotCertified(f"{exc} — run `das regenerate --detector {detector_name}` "
                               "(or `das enhance`, which certifies the bundled programs)") from exc
        return rec.source, rec.sha256
    if _SHA_PREFIX.match(program):
        with _opened(store) as opened:
            full = opened.resolve(program) if len(program) < 64 and hasattr(opened, "resolve") else program
            rec = opened.get(full)  # re-hashes the source: TamperedProgram on mismatch
            latest = opened.latest_verification(rec.sha256)
        if rec.status != "certified" or latest is None or not latest.passed:
            raise NotCertified(f"program {rec.sha256[:12]} is {rec.status!r}, not certified; "
                               "only certified programs run (see `das verify`)")
        if rec.detector.lower() != detector_name.lower():
            raise ProgramRefused(f"program {rec.sha256[:12]} is certified for {rec.detector}, not {detector_name}")
        return rec.source, rec.sha256
    if "generate_hard_anomalies" not in program:
        raise ValueError("program source must define generate_hard_anomalies(n_samples, model, X_train)")
    return program, None


class EnhancedDetector(BaseEstimator):
    """Detector + LLM-written hard-anomaly synthesis + enhancement classifier.

    Parameters
    ----------
    detector : str or detector object, default="IForest"
        A name for :func:`detectors.make_detector` or an unfitted detector
        (cloned at fit) with ``fit`` and ``predict_score``/``decision_function``.
    program : str, default="certified"
        "certified", a sha256 in the store, or a raw source (see module doc).
    fusion : {"sum", "collate"}, default="sum"
        LLM-DAS Eq. 7 sum fusion or the CoLLaTe-style learned fusion.
    classifier : {"rf", "svm", "mlp"}, default="rf"
    lam : float, default=1.0
        Weight of the classifier in the sum fusion.
    syn_ratio : float, default=0.1
        N_syn as a fraction of the training size.
    threshold : {"contamination", "pot"}, default="contamination"
        Label rule fitted on the training scores.
    contamination : float, default=0.1
    pot_risk : float, default=1e-3
        Risk of the POT threshold.
    collate_params : dict or None, default=None
        Keyword arguments of :class:`collab.collate.CollateFusion`.
    random_state : int, RandomState or None, default=0
    store : str, path, ProgramStore or None, default=None
        Program store (None: the default per-user store).

    Attributes
    ----------
    detector_, classifier_, fusion_ : fitted components
    X_syn_ : ndarray of shape (n_syn, n_features)
    program_sha256_ : str
    decision_scores_, labels_ : ndarray of shape (n_train,)
    threshold_ : float
    n_features_in_ : int
    """

    def __init__(self, detector="IForest", program="certified", fusion="sum", classifier="rf", lam=1.0,
                 syn_ratio=0.1, threshold="contamination", contamination=0.1, pot_risk=1e-3,
                 collate_params=None, random_state=0, store=None):
        self.detector = detector
        self.program = program
        self.fusion = fusion
        self.classifier = classifier
        self.lam = lam
        self.syn_ratio = syn_ratio
        self.threshold = threshold
        self.contamination = contamination
        self.pot_risk = pot_risk
        self.collate_params = collate_params
        self.random_state = random_state
        self.store = store

    def _make_detector(self, seed):
        if isinstance(self.detector, str):
            from detectors import make_detector

            return make_detector(self.detector, random_state=seed)
        return clone(self.detector)

    @staticmethod
    def _base_scores(det, X):
        score = getattr(det, "predict_score", None) or det.decision_function
        return np.asarray(score(X), dtype=np.float64).ravel()

    def fit(self, X, y=None):
        """Fit detector, synthesize anomalies in the sandbox, fit classifier and fusion.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data, assumed normal.
        y : ignored

        Returns
        -------
        self
        """
        if self.fusion not in FUSIONS:
            raise ValueError(f"fusion must be one of {FUSIONS}, got {self.fusion!r}")
        if self.threshold not in THRESHOLDS:
            raise ValueError(f"threshold must be one of {THRESHOLDS}, got {self.threshold!r}")
        X = check_array(X, dtype=np.float64, ensure_min_samples=2)
        seed = _seed(self.random_state)
        self.n_features_in_ = X.shape[1]

        det = self._make_detector(seed).fit(X)
        name = getattr(det, "name", type(det).__name__)
        source, sha = resolve_program(self.program, name, self.store)
        X_syn = enhance.synthesize(source, X, enhance.n_synthetic(len(X), self.syn_ratio),
                                   lambda Z: self._base_scores(det, Z), seed=seed)
        clf = enhance.fit_classifier(enhance.make_classifier(self.classifier, seed), X, X_syn)

        base_train = self._base_scores(det, X)
        if self.fusion == "sum":
            fusion = enhance.fit_fusion(clf, base_train, X, X_syn, self.lam)
        else:
            from collab.collate import CollateFusion

            oob_train, oob_syn = enhance.out_of_bag_scores(clf, X, X_syn)
            fusion = CollateFusion(**{"random_state": seed, **(self.collate_params or {})}).fit(
                base_train, oob_train, X, self._base_scores(det, X_syn), oob_syn, X_syn)

        self.detector_, self.classifier_, self.fusion_, self.X_syn_ = det, clf, fusion, X_syn
        self.program_sha256_ = sha or hashlib.sha256(source.encode("utf-8")).hexdigest()
        self.decision_scores_ = self._fuse(X, base_train, enhance.classifier_scores(clf, X))
        if self.threshold == "pot":
            self.threshold_ = pot_threshold(self.decision_scores_, risk=self.pot_risk)
        else:
            self.threshold_ = contamination_threshold(self.decision_scores_, self.contamination)
        self.labels_ = (self.decision_scores_ > self.threshold_).astype(int)
        return self

    def _fuse(self, X, base, clf):
        if self.fusion == "sum":
            return self.fusion_.fuse(base, clf)
        return self.fusion_.score(base, clf, X)

    def _check_X(self, X):
        check_is_fitted(self, "fusion_")
        X = check_array(X, dtype=np.float64)
        if X.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {X.shape[1]} features, but EnhancedDetector was fitted with "
                             f"{self.n_features_in_} features")
        return X

    def decision_function(self, X):
        """Enhanced anomaly scores of ``X`` (higher = more anomalous)."""
        X = self._check_X(X)
        return self._fuse(X, self._base_scores(self.detector_, X),
                          enhance.classifier_scores(self.classifier_, X))

    def base_decision_function(self, X):
        """Scores of the fitted base detector alone, for comparisons."""
        return self._base_scores(self.detector_, self._check_X(X))

    def predict(self, X):
        """Labels of ``X``: 1 = anomaly (score above ``threshold_``), 0 = normal."""
        return (self.decision_function(X) > self.threshold_).astype(int)
