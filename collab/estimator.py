"""``EnhancedDetector``: a detector enhanced by a certified synthesis program.

A PyOD detector: a subclass of ``pyod.models.base.BaseDetector`` with its
contract. ``fit(X)`` on normal (unlabelled) data returns ``self``;
``decision_function(X)`` gives scores where higher = more anomalous;
``decision_scores_``, ``threshold_`` and ``labels_`` describe the training
data (PyOD's own ``_process_decision_scores``: the ``1 - contamination``
quantile, or the POT threshold with ``threshold="pot"``); ``predict`` (1 =
anomaly, 0 = normal), ``predict_proba`` (``method="linear"`` or ``"unify"``)
and ``predict_with_rejection`` are PyOD's; ``predict_confidence`` is PyOD's
computation (Perini et al. 2020) by sorting instead of a loop per row.
``__init__`` only stores its arguments (scikit-learn contract), so
``clone``/``get_params`` and ``Pipeline`` work; ``store`` is a path, opened
only inside ``fit``, so fitted estimators pickle. ``fit`` is
:func:`collab.pipeline.fit` plus a threshold: the benchmark's numbers come
from the same code.

``program`` selects the synthesis program:

- ``"auto"`` (default): the label-free choice per dataset
  (:mod:`collab.selection`) among the detector's certified programs, random
  outliers, their ensemble and no enhancement, each at fusion weights 0.25,
  0.5, 1 and 2, by validation on 3 planted splits of the training rows: an
  option is taken only if every planted anomaly kind gains; else PCA, IForest
  and ECOD get random outliers at lambda 1 (what gained for them on the
  decision datasets) and other detectors keep the base, with the reason (the
  kind that lost) recorded. ``lam`` is then the rule's choice, not the
  parameter. The choice with its table is kept
  in ``selection_``, what to expect in ``expected_gain_``. With ``fit(X,
  y_known=...)`` the choice is made on the known anomalies instead.
- ``"certified"``: the detector's certified program, chosen by the
  certification service (:mod:`collab.certification`); on a fresh store the
  bundled programs are certified on first use, exactly as by the CLI.
- a sha256 (or unique prefix): looked up and integrity-checked in the store
  (``TamperedProgram`` on a hash mismatch) and refused unless certified for
  this detector under the current suite.
- ``"none"``, ``"random"``: the detector alone, or random outliers.
- program text (research use, e.g. transfer experiments): refused unless
  ``allow_uncertified=True``; then it runs with a warning, statically audited
  and only inside the sandbox, its rows checked like every program's. Text
  whose sha256 is revoked or rejected in the store is refused even then.

``detector``: a name, a das or PyOD detector (higher score = more anomalous),
or a scikit-learn outlier detector (``decision_function`` higher = more
normal; negated). Anything else is refused at fit.
"""
import numbers
import warnings

import numpy as np
from pyod.models.base import BaseDetector
from scipy.stats import binom
from sklearn.exceptions import NotFittedError
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_consistent_length, check_is_fitted, validate_data

from das.collab import pipeline
from das.collab.data import first_cells
from das.collab.enhance import check_detector
from das.collab.labels import known_mask
from das.collab.threshold import pot_threshold
from das.detectors import DetectorInputError

THRESHOLDS = ("contamination", "pot")
#: What ``fit`` sets: read before it, scikit-learn's NotFittedError (an AttributeError too).
FITTED_ATTRIBUTES = frozenset({"enhancement_", "detector_", "classifier_", "fusion_", "X_syn_", "program_sha256_",
                               "selection_", "expected_gain_", "decision_scores_", "threshold_", "labels_"})


def _seed(random_state):
    """An int seed from ``random_state`` (None: a fresh random seed, as in scikit-learn)."""
    if isinstance(random_state, (int, np.integer)) and not isinstance(random_state, bool) \
            and 0 <= random_state <= 2**32 - 1:
        return int(random_state)
    if random_state is None or isinstance(random_state, np.random.RandomState):
        return int(check_random_state(random_state).randint(0, 2**31 - 1))
    raise ValueError(f"random_state must be None, an int in [0, 2**32 - 1] or a numpy RandomState, "
                     f"got {random_state!r}")


def _warn_if_y_has_anomalies(y, y_known):
    """Warn that ``y`` is ignored when it marks anomalies and no ``y_known`` is given (walkthrough 4, M9:
    ``fit(X, y)`` trained on the anomalies as normal rows without a word)."""
    if y is None or y_known is not None:
        return
    try:
        marked = int(np.count_nonzero(np.asarray(y, dtype=float)))
    except (TypeError, ValueError):  # text labels: not read
        return
    if marked:
        warnings.warn(f"y marks {marked} row(s) as anomalies, but y is ignored: the fit is unsupervised and "
                      "every row of X is fitted as normal; pass y_known=(y == 1) (a mask or row indices) to "
                      "leave known anomalies out of the fit", UserWarning, stacklevel=3)


def _program_name(program):
    """``program`` with its keywords in any case (``"Auto"``, ``"NONE"``), as detector names are read."""
    keywords = ("auto", "certified", "none", "random")
    return program.lower() if isinstance(program, str) and program.lower() in keywords else program


def _features(est, X, reset):
    """``X`` as float64 by scikit-learn's ``validate_data``, with das's errors: the columns that are
    not numbers named, missing or infinite values placed, values beyond float32's range refused."""
    columns = getattr(X, "columns", None)
    repeated = [] if columns is None else sorted({str(c) for c in columns[columns.duplicated()]})
    if repeated:
        raise DetectorInputError(f"X has repeated column names {', '.join(map(repr, repeated))}: name each "
                                 "column once")
    try:
        arr = validate_data(est, X, dtype=np.float64, ensure_all_finite=False, reset=reset,
                            ensure_min_samples=2 if reset else 1)
    except (TypeError, ValueError):  # pandas and numpy raise either for text, dates, pd.NA in objects
        text = _non_numeric_columns(X)
        if not text:
            raise
        raise DetectorInputError(f"X column(s) {', '.join(map(repr, text))} are not numbers (text, dates or "
                                 "categories): encode them as numbers or drop them") from None
    bad = ~np.isfinite(arr)
    if bad.any():
        n_nan = int(np.isnan(arr[bad]).sum())
        raise DetectorInputError(f"X has {n_nan} NaN and {int(bad.sum()) - n_nan} infinite values, first at "
                                 f"{first_cells(bad, getattr(X, 'columns', None))}; drop or impute those rows "
                                 "(e.g. sklearn.impute.SimpleImputer)")
    return _in_float32_range(arr)


def _non_numeric_columns(X):
    """The names of a DataFrame's columns that cannot be read as numbers (none for other inputs)."""
    return [name for name in getattr(X, "columns", ()) if not _is_numeric(X[name])]


def _is_numeric(column):
    """Whether ``column`` holds numbers: a numeric or boolean dtype, or objects that convert to float64
    (dates, text and categories do not count, whatever numpy would make of them)."""
    from pandas.api.types import is_bool_dtype, is_numeric_dtype, is_object_dtype

    if is_numeric_dtype(column.dtype) or is_bool_dtype(column.dtype):
        return True
    if not is_object_dtype(column.dtype):
        return False
    try:
        np.asarray(column, dtype=np.float64)
    except (TypeError, ValueError):
        return False
    return True


def _in_float32_range(X):
    """``X``, refused with a ValueError when a value lies beyond float32's range (the
    enhancement's forest computes in float32); returns ``X``."""
    from das.sandbox.results import MAX_ABS_VALUE

    beyond = int(np.count_nonzero(np.abs(X) > MAX_ABS_VALUE))
    if beyond:
        raise ValueError(f"X has {beyond} value(s) of magnitude above {MAX_ABS_VALUE:.4g}, beyond float32's "
                         "range where the enhancement's classifier computes; rescale those columns (e.g. log)")
    return X


class EnhancedDetector(BaseDetector):
    """Detector + LLM-written hard-anomaly synthesis + enhancement classifier.

    Parameters
    ----------
    detector : str or detector object, default="IForest"
        A name for :func:`detectors.make_detector` or an unfitted detector
        (cloned at fit): a das/PyOD detector or a scikit-learn outlier detector.
    program : str, default="auto"
        "auto", "certified", a sha256 in the store, "none", "random" or, with
        ``allow_uncertified``, program text (see module doc).
    fusion : {"sum", "collate"}, default="sum"
        LLM-DAS Eq. 7 sum fusion or the CoLLaTe-style learned fusion.
    classifier : {"rf", "svm", "mlp"}, default="rf"
    lam : float, default=2.0
        Weight of the classifier in the sum fusion (a fixed program; ``"auto"`` chooses its own).
    syn_ratio : float, default=0.1
        N_syn as a fraction of the training size.
    threshold : {"contamination", "pot"}, default="contamination"
        Label rule fitted on the training scores: PyOD's (the share
        ``contamination`` of the training rows scores above ``threshold_``)
        or Peaks-Over-Threshold (:func:`collab.threshold.pot_threshold`).
    contamination : float in (0, 0.5], default=0.1
        The expected share of anomalies in the training data (PyOD's parameter).
    pot_risk : float, default=1e-3
        Risk of the POT threshold.
    collate_params : dict or None, default=None
        Keyword arguments of :class:`collab.collate.CollateFusion`.
    random_state : int in [0, 2**32 - 1], RandomState or None, default=0
    store : str, path or None, default=None
        Program store file (None: the default per-user store), opened in ``fit``.
    allow_uncertified : bool, default=False
        Let ``program`` be program text that is not certified (a warning is issued).

    Attributes
    ----------
    enhancement_ : collab.enhance.Enhancement
    detector_, classifier_, fusion_ : fitted components
    X_syn_ : ndarray of shape (n_syn, n_features)
    program_sha256_ : str or None
        None when ``program="auto"`` chose random outliers or no enhancement.
    selection_ : dict or None
        ``program="auto"``: the choice and its fusion weight, its validation
        table (per option: the mean and per-kind planted AUC-PR gain over the
        base, eligibility), the fallback reason if any and the seconds it
        took; None otherwise.
    expected_gain_ : dict or None
        ``program="auto"``: what to expect, as
        :func:`collab.selection.select` measured it: ``choice``, ``lambda``,
        ``estimate`` (mean AUC-PR gain over the base), ``std_error`` (seeded
        bootstrap over splits x kinds; with ``y_known``: over splits),
        ``interval`` (estimate +- 1.96 SE), ``per_kind``, ``basis`` ("planted
        anomalies: 3 splits x 4 kinds", or the known anomalies), ``decision``
        ("enhance" or "keep base"), ``reason`` and ``track_record`` (when
        enhancing a detector named in :mod:`collab.track_record`: the real
        gain where the rule enhanced it on held-out benchmark data; else
        None). A gain on *planted* anomalies is not a forecast of the gain
        on real ones. None otherwise.
    decision_scores_ : ndarray of shape (n_train,)
        Enhanced scores of the training rows (higher = more anomalous).
    threshold_ : float
        Scores above it are labelled anomalies.
    labels_ : ndarray of shape (n_train,)
        ``decision_scores_ > threshold_`` as int: 1 = anomaly, 0 = normal.
    n_features_in_ : int
    """

    def __init__(self, *, detector="IForest", program="auto", fusion="sum", classifier=pipeline.CLASSIFIER,
                 lam=pipeline.LAM, syn_ratio=pipeline.SYN_RATIO, threshold="contamination", contamination=0.1,
                 pot_risk=1e-3, collate_params=None, random_state=0, store=None, allow_uncertified=False):
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
        self.allow_uncertified = allow_uncertified

    def __getattr__(self, name):
        """Only for attributes not found: a fitted attribute read before ``fit`` says so."""
        if name in FITTED_ATTRIBUTES:
            raise NotFittedError(f"This {type(self).__name__} instance is not fitted yet: call 'fit' before "
                                 f"reading {name}")
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def fit(self, X, y=None, y_known=None):
        """Fit detector, synthesize anomalies in the sandbox, fit classifier and fusion.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data, assumed normal.
        y : ignored
            Unsupervised: never read, but one entry per row of ``X`` if given (a ValueError otherwise);
            a ``y`` that marks anomalies (non-zero entries) is warned about: they are fitted as normal
            rows. Pass ``y_known=(y == 1)`` to leave them out of the fit.
        y_known : array-like of int (row indices) or bool (mask), default=None
            A few known anomalies among the rows of ``X``. They never enter a
            fit; ``program="auto"`` chooses by cross-validated AUC-PR on them
            (:func:`collab.selection.pick_by_labels`) and ``expected_gain_``
            is measured on them. They are scored in ``decision_scores_``.

        Returns
        -------
        self
        """
        if self.fusion not in pipeline.FUSIONS:
            raise ValueError(f"fusion must be one of {pipeline.FUSIONS}, got {self.fusion!r}")
        if self.threshold not in THRESHOLDS:
            raise ValueError(f"threshold must be one of {THRESHOLDS}, got {self.threshold!r}")
        if not (isinstance(self.contamination, (float, int)) and 0.0 < self.contamination <= 0.5):
            raise ValueError(f"contamination must be a number in (0, 0.5], got {self.contamination!r}")
        if isinstance(self.lam, bool) or not isinstance(self.lam, numbers.Real) or not 0 <= self.lam < np.inf:
            raise ValueError(f"lam must be a finite non-negative number, got {self.lam!r}")
        check_detector(self.detector)
        unused = pipeline.lam_unused(self.program, self.fusion)
        if unused and self.lam != pipeline.LAM:
            option, value, why = unused
            warnings.warn(f"lam={self.lam:g} is not used: {option}='{value}' {why}", UserWarning, stacklevel=2)
        seed = _seed(self.random_state)
        X = _features(self, X, reset=True)
        try:
            check_consistent_length(X, y)
        except (TypeError, ValueError):
            raise ValueError(f"y must have one entry per row of X ({len(X)}); it is ignored (the fit is "
                             "unsupervised): pass y=None, or y_known for known anomalies") from None
        _warn_if_y_has_anomalies(y, y_known)
        fit_rows = np.ones(len(X), dtype=bool) if y_known is None else ~known_mask(y_known, len(X))
        fitted = pipeline.fit(X[fit_rows], self.detector, _program_name(self.program), self.store,
                              fusions=(self.fusion,),
                              classifier=self.classifier, lam=self.lam, syn_ratio=self.syn_ratio,
                              collate_params=self.collate_params, seed=seed,
                              allow_uncertified=self.allow_uncertified,
                              known=None if y_known is None else X[~fit_rows])
        self.enhancement_ = fitted
        self.detector_, self.classifier_ = fitted.detector, fitted.classifier
        self.fusion_name_ = self.fusion
        self.fusion_, self.X_syn_ = fitted.fusions[self.fusion], fitted.X_syn
        self.program_sha256_ = fitted.program_sha256
        self.selection_ = fitted.selection
        self.expected_gain_ = None if fitted.selection is None else fitted.selection["expected_gain"]
        self.decision_scores_ = fitted.scores(X)[self.fusion]
        self._set_n_classes(None)
        self._process_decision_scores()  # PyOD's: threshold_, labels_ and the moments "unify" uses
        # The share of anomalies predict_confidence assumes: PyOD's contamination, or what POT labels.
        self._confidence_share = self.contamination
        if self.threshold == "pot":
            self.threshold_ = pot_threshold(self.decision_scores_, risk=self.pot_risk)
            self.labels_ = (self.decision_scores_ > self.threshold_).astype(int)
            self._confidence_share = float(self.labels_.mean())
        return self

    def _scores(self, X):
        check_is_fitted(self, "enhancement_")
        return self.enhancement_.scores(_features(self, X, reset=False))

    def decision_function(self, X):
        """Enhanced anomaly scores of ``X`` (higher = more anomalous)."""
        return self._scores(X)[self.fusion_name_]

    def base_decision_function(self, X):
        """Scores of the fitted base detector alone, for comparisons."""
        return self._scores(X)["base"]

    def predict_proba(self, X, method="linear", return_confidence=False):
        """PyOD's outlier probability of ``X``: (n, 2) rows [P(normal), P(anomaly)], each in [0, 1].

        ``method="linear"``: the score min-max scaled by the training scores,
        clipped; ``"unify"``: the Gaussian scaling of Kriegel et al. (2011).
        """
        X = _features(self, X, reset=False)  # PyOD's reads X.shape: arrays only
        return super().predict_proba(X, method=method, return_confidence=return_confidence)

    def predict_confidence(self, X):
        """PyOD's confidence in each label of ``X`` (Perini et al. 2020), in [0, 1].

        How surely the label would stay the same under a slightly different
        training set: the training scores at or below a score give a posterior
        for its rank, whose binomial tail above the ``n - int(n * share)``
        normal rows is the confidence in "anomaly" (one minus it for a row
        labelled normal). ``share`` is ``contamination``, or the share POT
        labels. Same numbers as PyOD's loop per row, by a sort.
        """
        check_is_fitted(self, ["decision_scores_", "threshold_", "labels_"])
        scores = self.decision_function(X)
        n = len(self.decision_scores_)
        at_or_below = np.searchsorted(np.sort(self.decision_scores_), scores, side="right")
        confidence = 1.0 - binom.cdf(n - int(n * self._confidence_share), n, (1.0 + at_or_below) / (2.0 + n))
        return np.where(scores > self.threshold_, confidence, 1.0 - confidence)
