"""Whether synthesized rows copy training rows or repeat each other.

One measure for the property suite (``novel``, ``far_from_training``,
``diverse``) and the runtime, which checks a certified program's actual output
on the user's data before the classifier is trained on it (a program can behave
on the suite and copy on real data). Distances are in standardized units (each
feature divided by its training spread). A synthesized row whose nearest
training row ``x`` lies within ``COPY_RATIO`` (copy) or ``NEAR_RATIO`` (near
copy) times ``x``'s own distance to its nearest other distinct training row is
counted as such; the local scale holds in dense and sparse regions alike. Two
synthesized rows within ``REPEAT_RATIO`` times the median of those distances
repeat each other.

Thresholds, measured on 38 bundled, replay-corpus and honest example programs
(152 outputs on the four suite datasets of seed 0, sandbox of commit 42f69f8):
no sound output has a row within 0.01 x the local gap; at 0.1 x, the share is
at most 0.365 (p99 0.31, p95 0.07: PCA "shell" programs that step 2 % of the
way out), while training rows moved by 5 % of the median gap (red-team p9)
have 0.52-1.0 on every suite dataset of seeds 0-3.

Every output row is checked (a sample of them could be predicted and dodged:
red-team c1 hid 58 % exact training-row copies outside a 1000-row sample drawn
from the run seed). Cost on large data: sorting out duplicate training rows and
a KD-tree over them (O(n log n)), nearest-neighbour distances of at most
``MAX_REFERENCE_ROWS`` training rows (the spacing estimate; sampled with a seed
hashed from the data, which the program cannot choose row by row), every output
row queried within a distance bound, the local spacing of each distinct matched
training row (none for exact copies), and a bounded KD-tree self-query of the
output rows. Measured: 33 CPU s (single thread) on 1M x 20 Gaussian training
rows against 100k novel output rows, 21 CPU s against 100k exact copies (750 MB
peak); the nearest-neighbour queries use all cores.
"""
import hashlib
from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

COPY_RATIO = 0.01
NEAR_RATIO = 0.1
REPEAT_RATIO = 0.01
#: Allowed shares of synthesized rows that copy a training row (novel), near-copy
#: one (far_from_training) or repeat another synthesized row (diverse).
MAX_COPY_FRACTION = 0.05
MAX_NEAR_FRACTION = 0.5
MAX_REPEAT_FRACTION = 0.2
MAX_REFERENCE_ROWS = 500  # training rows whose spacing sets the search bound (all OUTPUT rows are checked)


@dataclass(frozen=True)
class Novelty:
    """Shares of synthesized rows that copy or near-copy a training row or repeat another output row."""

    copy_fraction: float
    near_fraction: float
    repeat_fraction: float
    gap: float  # median distance between nearest distinct training rows (standardized units)
    checked_rows: int

    def problems(self):
        """One line per share over its limit (empty when the output is acceptable)."""
        limits = ((self.copy_fraction, MAX_COPY_FRACTION, "are (near) copies of training rows"),
                  (self.near_fraction, MAX_NEAR_FRACTION,
                   f"lie within {NEAR_RATIO} x the local row spacing of a training row"),
                  (self.repeat_fraction, MAX_REPEAT_FRACTION, "(near) repeat another synthesized row"))
        return [f"{share:.0%} of {self.checked_rows} synthesized rows {what} (limit {limit:.0%})"
                for share, limit, what in limits if share > limit]


def _data_rng(*arrays):
    """A generator seeded from a hash of ``arrays``: nothing the program is told (such as the run seed)."""
    h = hashlib.blake2b(digest_size=16)
    for A in arrays:
        h.update(np.ascontiguousarray(A).tobytes())
    return np.random.default_rng(int.from_bytes(h.digest(), "little"))


def _sample(X, limit, rng):
    return X if len(X) <= limit else X[np.sort(rng.choice(len(X), limit, replace=False))]


def _standardize(X_train, *others):
    center = X_train.mean(axis=0)
    scale = X_train.std(axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    return [(np.asarray(A, dtype=np.float64) - center) / scale for A in (X_train, *others)]


def measure(X_train, out, seed=None):
    """The :class:`Novelty` of ALL synthesized rows ``out`` against ``X_train``.

    ``seed`` is accepted for compatibility and ignored: nothing here depends on a
    value the program could know.
    """
    Z, S = _standardize(np.asarray(X_train, dtype=np.float64), out)
    if len(S) == 0 or len(Z) == 0:
        return Novelty(0.0, 0.0, 0.0, 0.0, 0)
    Z = np.unique(Z, axis=0)
    tree = cKDTree(Z)
    gaps = (tree.query(_sample(Z, MAX_REFERENCE_ROWS, _data_rng(Z)), k=2)[0][:, 1]
            if len(Z) > 1 else np.zeros(1))
    gap = float(np.median(gaps))
    # Rows farther than the widest sampled spacing allows are no copies; the bound
    # keeps the search cheap in many dimensions.
    bound = max(NEAR_RATIO * float(gaps.max()) * 1.5, 1e-150)  # squared > 0: exact copies count
    dist, nearest = tree.query(S, k=1, distance_upper_bound=bound, workers=-1)
    exact = int(np.sum(dist == 0))  # exact copies: within any ratio of the (positive) local spacing
    found = np.isfinite(dist) & (dist > 0)
    local = np.zeros(int(found.sum()))
    if len(Z) > 1 and found.any():
        # one spacing query per distinct matched training row (near copies repeat rows)
        rows, inverse = np.unique(nearest[found], return_inverse=True)
        local = tree.query(Z[rows], k=2, workers=-1)[0][:, 1][inverse.ravel()]
    shares = [(exact + float(np.sum(dist[found] <= ratio * local))) / len(S) for ratio in (COPY_RATIO, NEAR_RATIO)]
    repeats = 0.0
    if len(S) > 1:
        limit = REPEAT_RATIO * gap
        own, _ = cKDTree(S).query(S, k=2, distance_upper_bound=max(limit * (1 + 1e-9), 1e-150))
        repeats = float(np.mean(own[:, 1] <= limit))
    return Novelty(shares[0], shares[1], repeats, gap, len(S))
