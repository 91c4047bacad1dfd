"""Data-agnostic synthetic datasets for the property suite.

The suite never sees user data: every array here is generated from a seed, so
the same seed always gives the same datasets and a certification can be
replayed exactly. Two families are provided:

* *hardness* datasets (Gaussian mixture, correlated features, heavy tails,
  and rows of a real table in disguise) on which the detector is fitted and
  the program's anomalies are compared with random outliers; their shapes
  and scales are drawn from the seed (:func:`suite_spec`), so a program
  cannot recognise the suite by them;
* *degenerate* datasets (d = 1, constant columns, duplicated rows, tiny n,
  1e6-scale values) on which a program must return a valid array or fail
  cleanly, never hang or crash.

Hypothesis strategies for the same shapes are built lazily by
:func:`suite_arrays` so that hypothesis stays a test-only dependency.
"""
import functools
import secrets
from dataclasses import dataclass

import numpy as np

BASE_N_TRAIN = 200  # middle of the drawn range; the benchmarks' warm-up size
BASE_DIM = 5
N_RANGE = (100, 400)  # rows of each hardness dataset, drawn per seed
D_RANGE = (3, 16)  # features, drawn per seed (3+: the correlated family is rank 2 + noise)
# One dataset per seed (its family drawn too) is larger, so a program that behaves
# only on small shapes is caught: rows drawn log-uniformly, features uniformly.
LARGE_N_RANGE = (401, 2000)
LARGE_D_RANGE = (17, 64)
LARGE_FAMILIES = ("correlated", "heavy_tailed")  # not the base (its large run asks 1.5-3 x n)
# Overall scale, drawn log-uniformly per seed and dataset; narrow because detectors
# with a fixed kernel width (OCSVM, gamma = 1/d) see a constant kernel on wide data.
SCALE_RANGE = (0.2, 5.0)
REAL_SOURCES = {"breast_cancer": (569, 30), "wine": (178, 13)}  # tables scikit-learn ships: shape
LARGE_N_FACTOR = (1.5, 3.0)  # the large run asks for this many times the training rows
# ... and at least this many rows (drawn per seed): more than the 1000 a sampled
# output check once looked at, so "copy only when n_samples > 1000" is exercised.
LARGE_MIN_ROWS_RANGE = (1001, 1600)
HARDNESS_FAMILIES = ("gaussian_mixture", "correlated", "heavy_tailed", "real_like")


@dataclass(frozen=True)
class SuiteDataset:
    """One generated training set.

    Attributes
    ----------
    name : str
        Stable identifier shown in reports, e.g. ``"gaussian_mixture"``.
    X : ndarray of shape (n, d), float64
        Training rows (normal data only; the suite has no labels).
    """

    name: str
    X: np.ndarray


def draw_seed():
    """A verification seed from the OS (:mod:`secrets`): no program can know the suite's arrays in advance."""
    return secrets.randbelow(2**31)


def _rng(seed, salt):
    # A separate stream per dataset keeps each one fixed when another changes.
    return np.random.default_rng([int(seed), int(salt)])


def suite_spec(seed=0):
    """Shapes, scales and sources of the hardness datasets for ``seed``, and
    the size factor of the suite's large run.

    Drawn from the seed alone, so a program cannot recognise the suite by
    its shapes and a certification replays exactly; recorded in the report.
    """
    rng = _rng(seed, 0)
    spec = {"large_n_factor": float(rng.uniform(*LARGE_N_FACTOR)), "datasets": {}}
    for family in HARDNESS_FAMILIES:
        entry = {"n": int(rng.integers(N_RANGE[0], N_RANGE[1] + 1)),
                 "d": int(rng.integers(D_RANGE[0], D_RANGE[1] + 1)),
                 "scale": float(np.exp(rng.uniform(*np.log(SCALE_RANGE))))}
        spec["datasets"][family] = entry
    large = _rng(seed, 7)
    spec["large"] = LARGE_FAMILIES[int(large.integers(len(LARGE_FAMILIES)))]
    spec["datasets"][spec["large"]].update(
        n=int(round(np.exp(large.uniform(*np.log(LARGE_N_RANGE))))),
        d=int(large.integers(LARGE_D_RANGE[0], LARGE_D_RANGE[1] + 1)))
    spec["large_min_rows"] = int(large.integers(LARGE_MIN_ROWS_RANGE[0], LARGE_MIN_ROWS_RANGE[1] + 1))
    for family, entry in spec["datasets"].items():
        if family == "real_like":
            entry["source"] = sorted(REAL_SOURCES)[int(rng.integers(len(REAL_SOURCES)))]
            rows, cols = REAL_SOURCES[entry["source"]]
            entry["n"], entry["d"] = min(entry["n"], rows), min(entry["d"], cols)
    return spec


def large_rows(seed, n_base):
    """Rows the suite's large run asks for on the base dataset of ``n_base`` rows."""
    spec = suite_spec(seed)
    return max(int(round(spec["large_n_factor"] * n_base)), spec["large_min_rows"])


def _placed(X, rng, scale):
    """``X`` multiplied by ``scale`` (and a per-feature spread) and moved off the origin."""
    d = X.shape[1]
    spread = rng.uniform(0.5, 2.0, size=d)
    offset = rng.normal(scale=5.0, size=d)
    return ((X * spread + offset) * scale).astype(np.float64)


def gaussian_mixture(seed=0, n=BASE_N_TRAIN, d=BASE_DIM, scale=1.0):
    """Three well-separated isotropic Gaussian clusters of unequal size."""
    rng = _rng(seed, 1)
    centers = rng.uniform(-4.0, 4.0, size=(3, d))
    sizes = np.array([0.5, 0.3, 0.2])
    labels = rng.choice(3, size=n, p=sizes)
    X = centers[labels] + rng.normal(scale=0.6, size=(n, d))
    return SuiteDataset("gaussian_mixture", _placed(X, rng, scale))


def correlated(seed=0, n=BASE_N_TRAIN, d=BASE_DIM, scale=1.0):
    """One Gaussian with strong linear correlation (rank-2 signal + small noise)."""
    rng = _rng(seed, 2)
    latent = rng.normal(size=(n, 2))
    loadings = rng.normal(size=(2, d))
    X = latent @ loadings + rng.normal(scale=0.1, size=(n, d))
    return SuiteDataset("correlated", _placed(X, rng, scale))


def heavy_tailed(seed=0, n=BASE_N_TRAIN, d=BASE_DIM, scale=1.0):
    """Independent Student-t (3 degrees of freedom) features with mixed scales."""
    rng = _rng(seed, 3)
    scales = rng.uniform(0.5, 3.0, size=d)
    X = rng.standard_t(3, size=(n, d)) * scales
    return SuiteDataset("heavy_tailed", _placed(X, rng, scale))


@functools.lru_cache(maxsize=None)
def _real_table(source):
    from sklearn import datasets

    X = getattr(datasets, f"load_{source}")().data.astype(np.float64)
    X = X[:, X.std(axis=0) > 0]
    return (X - X.mean(axis=0)) / X.std(axis=0)


def real_like(seed=0, n=BASE_N_TRAIN, d=BASE_DIM, scale=1.0, source="breast_cancer"):
    """Rows of a real table scikit-learn ships, disguised per seed.

    A random subset of rows and columns of the standardized table, turned by
    a random rotation and rescaled, so neither its shape nor its values
    match the published table.
    """
    rng = _rng(seed, 6)
    table = _real_table(source)
    rows = rng.choice(len(table), size=n, replace=False)
    cols = rng.choice(table.shape[1], size=d, replace=False)
    rotation, _ = np.linalg.qr(rng.normal(size=(len(cols), len(cols))))
    X = table[np.ix_(np.sort(rows), cols)] @ rotation
    return SuiteDataset("real_like", _placed(X, rng, scale))


_GENERATORS = {"gaussian_mixture": gaussian_mixture, "correlated": correlated,
               "heavy_tailed": heavy_tailed, "real_like": real_like}


def hardness_datasets(seed=0):
    """The datasets on which hardness and novelty are measured (shapes from :func:`suite_spec`)."""
    return [_GENERATORS[family](seed, **entry) for family, entry in suite_spec(seed)["datasets"].items()]


def base_dataset(seed=0):
    """The dataset for shape, determinism, time and mutation checks."""
    return hardness_datasets(seed)[0]


def degenerate_datasets(seed=0):
    """Inputs that break careless programs: each must give an array or a clean error."""
    rng = _rng(seed, 4)
    one_dim = rng.normal(size=(60, 1))
    constant = rng.normal(size=(60, 4))
    constant[:, [1, 3]] = 7.0  # zero-variance columns: divisions by std blow up
    dup = np.repeat(rng.normal(size=(1, 3)), 40, axis=0)  # all rows identical
    tiny = rng.normal(size=(3, 3))
    large = rng.normal(size=(60, 3)) * 1e6 + 1e6
    return [
        SuiteDataset("one_feature", one_dim),
        SuiteDataset("constant_columns", constant),
        SuiteDataset("duplicate_rows", dup),
        SuiteDataset("tiny_n", tiny),
        SuiteDataset("large_magnitude", large),
    ]


def random_outliers(X, n, seed=0, widen=0.10):
    """Uniform points in the bounding box of ``X`` widened by ``widen`` per feature.

    This is the paper's "random outliers" baseline that synthesized anomalies
    must be harder than.
    """
    return uniform_in_widened_box(np.asarray(X, dtype=np.float64), int(n), _rng(seed, 5), widen)


def uniform_in_widened_box(X, n, rng, widen):
    """``n`` uniform draws of ``rng`` in ``X``'s bounding box widened by ``widen`` of its width per side."""
    lo, hi = X.min(axis=0), X.max(axis=0)
    margin = widen * (hi - lo)
    return rng.uniform(lo - margin, hi + margin, size=(n, X.shape[1]))


def suite_arrays(min_rows=1, max_rows=40, max_dim=6):
    """Hypothesis strategy for training arrays in the suite's families.

    Draws Gaussian mixtures, correlated and heavy-tailed data, and the
    degenerate cases (one column, constant columns, duplicate rows, large
    magnitudes). Imported lazily: hypothesis is needed only by tests.
    """
    from hypothesis import strategies as st

    kinds = st.sampled_from(
        ["mixture", "correlated", "heavy", "one_feature", "constant", "duplicates", "large"]
    )

    @st.composite
    def arrays(draw):
        kind = draw(kinds)
        n = draw(st.integers(min_rows, max_rows))
        d = 1 if kind == "one_feature" else draw(st.integers(1, max_dim))
        seed = draw(st.integers(0, 2**31 - 1))
        rng = np.random.default_rng(seed)
        if kind == "mixture" or kind == "one_feature":
            centers = rng.uniform(-4, 4, size=(2, d))
            X = centers[rng.integers(0, 2, size=n)] + rng.normal(size=(n, d))
        elif kind == "correlated":
            X = rng.normal(size=(n, 1)) @ rng.normal(size=(1, d)) + 0.05 * rng.normal(size=(n, d))
        elif kind == "heavy":
            X = rng.standard_t(2, size=(n, d))
        elif kind == "constant":
            X = rng.normal(size=(n, d))
            X[:, 0] = 3.0
        elif kind == "duplicates":
            X = np.repeat(rng.normal(size=(1, d)), n, axis=0)
        else:
            X = rng.normal(size=(n, d)) * 1e6
        return X.astype(np.float64)

    return arrays()
