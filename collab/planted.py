"""Planted anomalies: ADBench's four synthetic types, labelled by construction.

ADBench (Han et al., 2022, "ADBench: Anomaly Detection Benchmark", NeurIPS
Datasets and Benchmarks; its realistic-synthetic protocol, restated in
LLM-DAS App. 6.15.2) fits a generative model to a dataset's normal rows and
tweaks it to plant four types of anomalies:

* **local** -- a Gaussian mixture (number of components chosen by BIC) with
  every component's covariance scaled, ``Sigma <- alpha * Sigma``, alpha = 5;
* **clustered** -- the same mixture with its means scaled, ``mu <- alpha * mu``,
  alpha = 5, covariances unchanged: compact clusters away from the normals;
* **global** -- uniform per feature in ``[alpha * min(X_k), alpha * max(X_k)]``,
  alpha = 1.1;
* **dependency** -- the normals follow a vine copula; the anomalies sample every
  feature independently from its Gaussian-KDE marginal, breaking the
  dependence between features.

Where this module departs from ADBench, and why:

* The mixture is fitted to z-scored features, so ``reg_covar`` (which keeps
  singular covariances, e.g. duplicated rows or collinear features, invertible)
  means the same at any unit. "Scale the means" is therefore taken about the
  data mean rather than the raw origin, and a component mean that would move
  less than ``alpha * sqrt(d)`` z-units (a single component sits at the data
  mean and would not move at all) is moved that far along its own direction,
  or along a seeded random direction when it sits at the centre.
* The global box is enlarged by alpha about its centre; scaling the bounds
  themselves, as ADBench does, shrinks the box when a feature is positive.
* The normals are real rows, not copula samples; dependency anomalies use a
  per-feature Gaussian KDE (Scott's bandwidth), as ADBench does.
* Constant columns keep their value in every planted row: a row that differed
  only where the data never varies would be trivially found.

Dependency anomalies need two varying features, and they are only anomalous
when the features are dependent. With one feature, local anomalies are weak by
nature (a ``sqrt(5)``-wider Gaussian; log-likelihood AUC about 0.73).

Label convention: ``y = 1`` anomaly, ``y = 0`` normal.
"""
from numbers import Integral
from typing import NamedTuple

import numpy as np

from das.sandbox.results import MAX_ABS_VALUE

KINDS = ("local", "clustered", "global", "dependency")
NORMAL = "normal"  # the kind of a held-out normal row in ``kind_per_row``
LOCAL_ALPHA = 5.0
CLUSTERED_ALPHA = 5.0
GLOBAL_ALPHA = 1.1
MAX_COMPONENTS = 5  # BIC chooses among 1..MAX_COMPONENTS mixture components
ROWS_PER_COMPONENT = 10  # ...and no more components than n_rows / this
MIXTURE_ROWS = 500  # the mixture is fitted on at most this many rows (a seeded subsample)
REG_COVAR = 1e-4  # added to every covariance's diagonal, in z-score units
MIN_ROWS = 5  # the fewest normal rows anomalies are planted from
MIN_HOLDOUT_ROWS = 2  # the fewest held-out normal rows in a planted split
DEFAULT_HOLDOUT = 0.3
DEFAULT_RATE = 0.1  # planted anomalies of each kind per held-out normal row
_AT_CENTRE = 1e-8  # a component mean closer than this (z-units) has no direction


class PlantedSplit(NamedTuple):
    """Fit rows and a validation set with planted anomalies.

    Attributes
    ----------
    X_fit : ndarray of shape (n_fit, d), float64
        The rows not held out, in their original order.
    X_val : ndarray of shape (n_val, d), float64
        The held-out normal rows (original order), then the planted anomalies,
        grouped by kind in the order of :data:`KINDS`.
    y_val : ndarray of shape (n_val,), int64
        1 for a planted anomaly, 0 for a held-out row.
    kind_per_row : ndarray of shape (n_val,), str
        :data:`NORMAL` or the planted kind of each row of ``X_val``.
    """

    X_fit: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    kind_per_row: np.ndarray


def plant_anomalies(X_normal, n_anomalies, kind, random_state=None):
    """Plant ``n_anomalies`` anomalies of one ADBench type into normal data.

    Parameters
    ----------
    X_normal : array-like of shape (n, d)
        Normal rows, finite, at least :data:`MIN_ROWS` of them, with at least
        one varying column. Not modified.
    n_anomalies : int
        Number of rows to plant (0 gives an empty array).
    kind : {"local", "clustered", "global", "dependency"}
        The anomaly type (see the module docstring).
    random_state : int, numpy Generator or None
        Seed; the same seed and data give the same rows.

    Returns
    -------
    ndarray of shape (n_anomalies, d), float64, finite

    Raises
    ------
    ValueError
        For an unknown kind, too few rows, non-finite values, no varying
        column, fewer than two varying columns for ``"dependency"``, or data
        so large that the planted values overflow.
    """
    _planter(kind)
    X = _check_normal_rows(X_normal)
    n = _check_count(n_anomalies)
    rng = np.random.default_rng(random_state)
    return _Normals(X, mixture_rng=rng).plant(kind, n, rng)


def planted_split(X_train, random_state=None, holdout=DEFAULT_HOLDOUT, kinds=KINDS,
                  rate=DEFAULT_RATE):
    """Hold out a share of unlabeled rows and plant anomalies beside them.

    The anomalies are planted from the statistics of the rows that are *not*
    held out, so the held-out normals are unseen by both the planting and
    whatever is then fitted on ``X_fit``. Labels come from construction only.

    Parameters
    ----------
    X_train : array-like of shape (n, d)
        Unlabeled rows, assumed mostly normal. The held-out share must keep
        :data:`MIN_HOLDOUT_ROWS` rows and leave :data:`MIN_ROWS` to fit (seven
        rows at the default holdout).
    random_state : int, numpy Generator or None
        Seed of the split and of every kind's planting. Each kind draws its own
        seed, so a kind's rows do not depend on which other kinds are asked for.
    holdout : float in (0, 1)
        Share of the rows held out as validation normals.
    kinds : sequence of str
        Kinds to plant, a subset of :data:`KINDS`. ``"dependency"`` is skipped
        when fewer than two columns of the fit rows vary.
    rate : float > 0
        Anomalies planted per kind, as a share of the held-out rows (at least 1).

    Returns
    -------
    PlantedSplit
        ``(X_fit, X_val, y_val, kind_per_row)``.

    Raises
    ------
    ValueError
        For bad arguments, too few rows, or when no requested kind applies.
    """
    X = _check_normal_rows(X_train)
    wanted = _check_kinds(kinds)
    n_val = _holdout_size(len(X), holdout)
    if not rate > 0:
        raise ValueError(f"rate must be > 0, got {rate!r}")
    rng = np.random.default_rng(random_state)
    order = rng.permutation(len(X))
    val, fit = np.sort(order[:n_val]), np.sort(order[n_val:])
    n_plant = max(1, round(rate * n_val))
    planted = dict(zip(*_plant_each(X[fit], n_plant, rng, wanted)))
    if not planted:
        raise ValueError(f"none of the kinds {sorted(wanted)} applies: "
                         "'dependency' needs two varying columns")
    kind_per_row = np.array([NORMAL] * n_val + [k for k in planted for _ in range(n_plant)])
    return PlantedSplit(X_fit=X[fit], X_val=np.vstack([X[val], *planted.values()]),
                        y_val=(kind_per_row != NORMAL).astype(np.int64),
                        kind_per_row=kind_per_row)


def plant_kinds(X_normal, n_per_kind, random_state=None, kinds=KINDS):
    """Plant ``n_per_kind`` rows of every applicable kind beside ``X_normal`` (which is not split).

    For checks that score the planted rows against rows a model was fitted
    on (e.g. a fusion's guard). Each kind draws its own seed, as in
    :func:`planted_split`; ``"dependency"`` is skipped with fewer than two
    varying columns.

    Returns
    -------
    X_planted : ndarray of shape (n_kinds * n_per_kind, d)
    kind_per_row : ndarray of shape (n_kinds * n_per_kind,), str

    Raises
    ------
    ValueError
        As :func:`plant_anomalies`.
    """
    applied, rows = _plant_each(_check_normal_rows(X_normal), n_per_kind, np.random.default_rng(random_state),
                                _check_kinds(kinds))
    return np.vstack(rows), np.repeat(applied, n_per_kind)


def _plant_each(X, n, rng, wanted):
    """``(kinds, rows)``: ``n`` rows of every wanted kind that applies to ``X``, in :data:`KINDS` order.

    Each kind draws its own seed from ``rng`` (its rows do not depend on which
    other kinds are asked for); the mixture that the local and clustered kinds
    share is fitted once, with a seed of its own drawn after them.
    """
    seeds = dict(zip(KINDS, rng.integers(2**32, size=len(KINDS))))
    normals = _Normals(X, mixture_rng=np.random.default_rng(rng.integers(2**32)))
    applied = [kind for kind in KINDS if kind in wanted and _applies(kind, X)]
    return applied, [normals.plant(kind, n, np.random.default_rng(seeds[kind])) for kind in applied]


def per_kind_auc_pr(scores, y, kind_per_row):
    """``{kind: AUC-PR}`` of ``scores`` on the normal rows plus each planted kind's rows.

    Each kind is scored on its own (not pooled), so an easy kind cannot hide
    a hard one; average the values for one figure.
    """
    from das.collab.metrics import auc_pr

    scores, y, kind_per_row = np.asarray(scores), np.asarray(y), np.asarray(kind_per_row)
    out = {}
    for kind in KINDS:
        if np.any(kind_per_row == kind):
            rows = (kind_per_row == NORMAL) | (kind_per_row == kind)
            out[kind] = float(auc_pr(y[rows], scores[rows]))
    return out


class _ZScores:
    """Per-feature z-scores of the varying columns; constant columns are kept aside."""

    def __init__(self, center, scale, varying):
        self.center, self.scale, self.varying = center, scale, varying

    @classmethod
    def fit(cls, X):
        """Centres, scales and varying columns of ``X``."""
        varying = _varying_columns(X)
        # A constant column's centre is its value itself, exactly (a mean may round).
        center = np.where(varying, X.mean(axis=0), X[0])
        scale = np.where(varying, X.std(axis=0), 1.0)
        return cls(center, scale, varying)

    def transform(self, X):
        """Z-scores of the varying columns of ``X``."""
        return (X[:, self.varying] - self.center[self.varying]) / self.scale[self.varying]

    def inverse_transform(self, Z):
        """Rows in the original units, constant columns filled with their value."""
        out = np.tile(self.center, (len(Z), 1))
        out[:, self.varying] = Z * self.scale[self.varying] + self.center[self.varying]
        return out


class _Normals:
    """Normal rows z-scored once (:class:`_ZScores`), and their Gaussian mixture, fitted with
    ``mixture_rng`` on first use: one mixture for the local and the clustered kinds, as in ADBench."""

    def __init__(self, X, mixture_rng):
        with np.errstate(over="ignore", invalid="ignore"):  # overflow is reported by plant()
            self.frame = _ZScores.fit(X)
            self.Z = self.frame.transform(X)
        self._mixture_rng, self._mixture = mixture_rng, None

    @property
    def mixture(self):
        if self._mixture is None:
            self._mixture = _fit_mixture(self.Z, self._mixture_rng)
        return self._mixture

    def plant(self, kind, n, rng):
        """``n`` rows of ``kind`` in the original units, drawn with ``rng``."""
        with np.errstate(over="ignore", invalid="ignore"):
            out = self.frame.inverse_transform(_planter(kind)(self, n, rng))
        if not np.all(np.isfinite(out)):
            raise ValueError("planted values overflow float64; rescale X_normal")
        return np.clip(out, -MAX_ABS_VALUE, MAX_ABS_VALUE)  # float32's range: where the forest scores them


def _local(normals, n, rng):
    """The fitted mixture with every covariance scaled by LOCAL_ALPHA."""
    mixture = normals.mixture
    return _sample_mixture(mixture.weights_, mixture.means_,
                           LOCAL_ALPHA * mixture.covariances_, n, rng)


def _clustered(normals, n, rng):
    """The fitted mixture with its means pushed away from the data mean."""
    mixture = normals.mixture
    return _sample_mixture(mixture.weights_, _shifted_means(mixture.means_, rng),
                           mixture.covariances_, n, rng)


def _global(normals, n, rng):
    """Uniform in the bounding box enlarged GLOBAL_ALPHA times about its centre."""
    Z = normals.Z
    lo, hi = Z.min(axis=0), Z.max(axis=0)
    center, half = (lo + hi) / 2, GLOBAL_ALPHA * (hi - lo) / 2
    return rng.uniform(center - half, center + half, size=(n, Z.shape[1]))


def _dependency(normals, n, rng):
    """Each feature drawn independently from its own Gaussian KDE."""
    Z = normals.Z
    n_rows, d = Z.shape
    if d < 2:
        raise ValueError("dependency anomalies need at least two varying columns")
    picks = Z[rng.integers(0, n_rows, size=(n, d)), np.arange(d)]
    bandwidth = Z.std(axis=0) * n_rows ** (-1 / 5)  # Scott's rule, one dimension
    return picks + bandwidth * rng.standard_normal((n, d))


_PLANTERS = {"local": _local, "clustered": _clustered, "global": _global,
             "dependency": _dependency}


def _fit_mixture(Z, rng):
    """Full-covariance Gaussian mixture with the number of components chosen by BIC.

    Fitted on a seeded subsample of :data:`MIXTURE_ROWS` rows when there are
    more, which bounds the cost of the BIC sweep on large data.
    """
    from sklearn.mixture import GaussianMixture

    seed = int(rng.integers(2**31 - 1))
    if len(Z) > MIXTURE_ROWS:
        Z = Z[np.sort(rng.choice(len(Z), size=MIXTURE_ROWS, replace=False))]
    most = min(MAX_COMPONENTS, max(1, len(Z) // ROWS_PER_COMPONENT))
    fits = [GaussianMixture(k, reg_covar=REG_COVAR, random_state=seed).fit(Z)
            for k in range(1, most + 1)]
    return min(fits, key=lambda mixture: mixture.bic(Z))


def _sample_mixture(weights, means, covariances, n, rng):
    """``n`` rows from a full-covariance Gaussian mixture, drawn with ``rng``."""
    component = rng.choice(len(weights), size=n, p=weights / weights.sum())
    noise = rng.standard_normal((n, means.shape[1]))
    root = np.linalg.cholesky(covariances)
    return means[component] + np.einsum("nij,nj->ni", root[component], noise)


def _shifted_means(means, rng):
    """ADBench's ``mu <- alpha * mu`` about the data mean; every mean moves >= alpha*sqrt(d)."""
    least = CLUSTERED_ALPHA * np.sqrt(means.shape[1])
    shifted = means.copy()
    for mean in shifted:
        norm = np.linalg.norm(mean)
        direction = mean / norm if norm > _AT_CENTRE else _random_direction(len(mean), rng)
        mean += direction * max((CLUSTERED_ALPHA - 1) * norm, least)
    return shifted


def _random_direction(d, rng):
    """A uniformly random unit vector in ``d`` dimensions."""
    v = rng.standard_normal(d)
    return v / np.linalg.norm(v)


def _varying_columns(X):
    """Boolean mask of the columns that take more than one value."""
    return X.max(axis=0) > X.min(axis=0)


def _applies(kind, X):
    """Whether ``kind`` can be planted from ``X`` (dependency needs two varying columns)."""
    return kind != "dependency" or _varying_columns(X).sum() >= 2


def _planter(kind):
    """The planting function of ``kind``; a clear error for an unknown one."""
    if kind not in _PLANTERS:
        raise ValueError(f"unknown kind {kind!r}; choose one of {', '.join(KINDS)}")
    return _PLANTERS[kind]


def _check_kinds(kinds):
    """The requested kinds as a set, each one known."""
    wanted = set(kinds) if not isinstance(kinds, str) else {kinds}
    for kind in wanted:
        _planter(kind)
    if not wanted:
        raise ValueError("kinds is empty")
    return wanted


def _check_normal_rows(X):
    """A finite float64 2-D copy of ``X`` with enough rows and a varying column."""
    X = np.array(X, dtype=np.float64)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (n_rows, n_features), got shape {X.shape}")
    if len(X) < MIN_ROWS:
        raise ValueError(f"planting anomalies needs at least {MIN_ROWS} rows, got {len(X)}")
    if not np.all(np.isfinite(X)):
        raise ValueError("X contains NaN or infinite values")
    if not _varying_columns(X).any():
        raise ValueError("every column of X is constant; there is nothing to plant from")
    return X


def _check_count(n):
    """``n`` as a non-negative int."""
    if isinstance(n, bool) or not isinstance(n, Integral) or n < 0:
        raise ValueError(f"n_anomalies must be a non-negative integer, got {n!r}")
    return int(n)


def _holdout_size(n_rows, holdout):
    """Rows held out of ``n_rows``; a clear error when either side gets too few."""
    if not 0 < holdout < 1:
        raise ValueError(f"holdout must be in (0, 1), got {holdout!r}")
    n_val = round(holdout * n_rows)
    if n_val < MIN_HOLDOUT_ROWS or n_rows - n_val < MIN_ROWS:
        raise ValueError(f"a planted split of {n_rows} rows at holdout={holdout} leaves "
                         f"{n_val} to validate and {n_rows - n_val} to fit; it needs at least "
                         f"{MIN_HOLDOUT_ROWS} and {MIN_ROWS}")
    return n_val
