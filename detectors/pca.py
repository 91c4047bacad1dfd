"""PCA detector (Shyu et al., 2003) with PyOD's scoring, made finite on rank-deficient data."""
import numpy as np
from scipy.spatial.distance import cdist
from sklearn.decomposition import PCA as _SkPCA
from sklearn.preprocessing import StandardScaler

from das.detectors.base import Detector


class PCA(Detector):
    """PyOD's PCA outlier score without its ``inf`` on (near-)singular covariance.

    As in PyOD, data are standardized, a full PCA is fitted and the score of x is
    ``sum_j dist(x, v_j) / ratio_j`` over the principal axes ``v_j`` weighted by their
    explained-variance ratio. PyOD divides by ratios that are 0 when the training
    covariance is rank-deficient (constant or collinear columns) and returns ``inf``;
    here components whose ratio is below ``variance_tol`` are dropped first: they carry
    no training variance, so they cannot weight a distance.

    Parameters
    ----------
    n_selected_components : int or None, default=None
        Use only this many of the smallest retained components (None: all).
    weighted : bool, default=True
    standardization : bool, default=True
    variance_tol : float, default=1e-10
        Smallest explained-variance ratio a component needs to be kept.
    contamination : float, default=0.1
    random_state : int or None, default=None
    """

    name = "PCA"

    def __init__(self, *, n_selected_components=None, weighted=True, standardization=True,
                 variance_tol=1e-10, contamination=0.1, random_state=None):
        super().__init__(contamination=contamination)
        self.n_selected_components = n_selected_components
        self.weighted = weighted
        self.standardization = standardization
        self.variance_tol = variance_tol
        self.random_state = random_state

    def _fit_scores(self, X):
        self.scaler_ = StandardScaler().fit(X) if self.standardization else None
        Z = self._transform(X)
        # Identical training rows give 0/0 variance ratios (NaN); they are dropped below.
        with np.errstate(invalid="ignore", divide="ignore"):
            self.detector_ = _SkPCA(svd_solver="full", random_state=self.random_state).fit(Z)
        ratio = self.detector_.explained_variance_ratio_
        keep = np.isfinite(ratio) & (ratio > self.variance_tol)
        if not keep.any():
            # All training rows are identical: keep the first axis with unit weight so
            # the score still measures distance from the training point.
            keep[0] = True
            ratio = np.ones_like(ratio)
        components = self.detector_.components_[keep]
        weights = ratio[keep] if self.weighted else np.ones(int(keep.sum()))
        k = len(components) if self.n_selected_components is None else min(
            int(self.n_selected_components), len(components))
        self.n_components_kept_ = int(keep.sum())
        self.selected_components_ = components[-k:]
        self.selected_w_components_ = weights[-k:]
        return self._score(X)

    def _transform(self, X):
        return self.scaler_.transform(X) if self.scaler_ is not None else X

    def _score(self, X):
        dist = cdist(self._transform(X), self.selected_components_)
        return (dist / self.selected_w_components_).sum(axis=1)
