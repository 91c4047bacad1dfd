"""An embedded demo suite built only from data that scikit-learn ships.

Nothing is downloaded: the three datasets below are rebuilt from
``sklearn.datasets`` the way ODDS built their namesakes, so ``das demo`` runs
anywhere. Each construction is deterministic: the anomalies kept are drawn
with ``numpy.random.default_rng(seed)`` (``seed=0`` by default) without
replacement, and every kept row stays in scikit-learn's original order, which
is the "file order" the split protocol uses.
"""
import warnings
from time import perf_counter

import numpy as np

from das.collab.data import Dataset, split_dataset

#: Detectors ``das demo`` runs by default: all but DRL, whose torch training
#: took 14-97 s per demo dataset on this 2-core machine against < 1 s for the others.
DEFAULT_DETECTORS = ("PCA", "IForest", "OCSVM", "ECOD", "LOF", "KNN")

#: (name, loader, normal classes, anomaly class, anomalies kept)
_SPECS = (
    # ODDS WDBC: 357 benign + 10 malignant (2.7 %); scikit-learn codes malignant as 0.
    ("breast_cancer", "load_breast_cancer", (1,), 0, 10),
    # ODDS Wine: classes 2 and 3 normal (119), 10 of class 1 as anomalies (7.8 %);
    # scikit-learn numbers the classes 0, 1, 2.
    ("wine", "load_wine", (1, 2), 0, 10),
    # ODDS Optdigits: digits 1-9 normal, digit 0 subsampled as anomalies (2.9 %);
    # on scikit-learn's 8x8 digits 50 zeros give 50 / 1669 = 3.0 %.
    ("digits", "load_digits", (1, 2, 3, 4, 5, 6, 7, 8, 9), 0, 50),
)


def _build(name, loader, normal_classes, anomaly_class, n_anomalies, seed):
    import sklearn.datasets

    bunch = getattr(sklearn.datasets, loader)()
    target = np.asarray(bunch.target)
    normal = np.isin(target, normal_classes)
    candidates = np.flatnonzero(target == anomaly_class)
    chosen = np.random.default_rng(seed).choice(candidates, size=n_anomalies, replace=False)
    keep = normal.copy()
    keep[chosen] = True
    rows = np.flatnonzero(keep)  # ascending: scikit-learn's row order is kept
    source = (f"sklearn.datasets.{loader}: classes {list(normal_classes)} normal, "
              f"{n_anomalies} of class {anomaly_class} as anomalies (seed {seed})")
    return Dataset(name=name, X=np.ascontiguousarray(bunch.data[rows], dtype=np.float64),
                   y=(target[rows] == anomaly_class).astype(np.int64), source=source)


def demo_suite(seed=0):
    """The demo datasets, built from scikit-learn's bundled data.

    - ``breast_cancer`` (30 features): the 357 benign tumours are normal and
      10 of the 212 malignant ones are anomalies: n = 367, 2.7 % anomalies,
      as ODDS built WDBC.
    - ``wine`` (13 features): classes 1 and 2 (71 + 48 wines) are normal and
      10 of the 59 wines of class 0 are anomalies: n = 129, 7.8 %, as ODDS
      built Wine. scikit-learn's rows are sorted by class, as are ODDS
      Wine's, so under the file-order split the training normals are all of
      class 1 and the test normals mostly of class 2, exactly as with ODDS.
    - ``digits`` (64 features, 8x8 images): digits 1-9 (1619 images) are
      normal and 50 of the 178 zeros are anomalies: n = 1669, 3.0 %, as ODDS
      built Optdigits.

    Parameters
    ----------
    seed : int, default=0
        Seed of the draw of the anomalies kept; the default is what ``das
        demo`` reports.

    Returns
    -------
    list of Dataset
        Labels: 1 = anomaly, 0 = normal; rows in scikit-learn's order.
    """
    return [_build(*spec, seed=seed) for spec in _SPECS]


def run_demo(detectors=None, seed=0, datasets=None, progress=None, enhance=False, store=None):
    """Fit each detector on each demo dataset and measure its test AUCs.

    Parameters
    ----------
    detectors : sequence of str, optional
        Names for :func:`detectors.make_detector` (any of
        ``detectors.DETECTOR_NAMES``); default :data:`DEFAULT_DETECTORS`.
    seed : int, default=0
        ``random_state`` of every detector (the suite itself uses seed 0).
    datasets : list of Dataset, optional
        Default :func:`demo_suite`.
    progress : callable, optional
        Called as ``progress(done, total, dataset_name, detector_name)``
        before each fit, e.g. to draw a progress line.
    enhance : bool, default=False
        Also enhance each detector: ``auto``, the default of ``das enhance``,
        ``das score`` and :class:`EnhancedDetector` (chosen label-free among
        the store's certified programs, random outliers and no enhancement),
        then its certified program by ``sum`` and ``collate`` fusion (a
        detector without one gets base and auto only, with a
        :class:`collab.certification.NoProgramWarning`; methods
        of :func:`collab.evaluate.evaluate`, i.e. the :mod:`collab.pipeline`);
        the bundled programs are certified into the store on first use.
        False: only ``base`` is measured.
    store : str or path, optional
        Program store file (None: the default store).

    Returns
    -------
    list of dict
        One row per (dataset, detector, method): ``dataset``, ``detector``
        (canonical name), ``method``, ``auc_pr``, ``auc_roc`` and ``seconds``
        (the whole cell: fit, synthesis, classifier and scoring); the
        ``auto`` row also has ``choice``, what ``auto`` chose.
    """
    from das.collab.certification import NoProgramWarning, available_programs
    from das.collab.evaluate import evaluate
    from das.collab.pipeline import detector_name
    from das.collab.selection import candidates

    # Canonical names up front: an unknown name fails before any time is spent fitting.
    names = tuple(detector_name(n) for n in (DEFAULT_DETECTORS if detectors is None else detectors))
    methods = ("base", "auto", "sum", "collate") if enhance else ("base",)
    found, missing = available_programs(names, store) if enhance else ({}, {})
    for name, why in missing.items():
        warnings.warn(f"{why}; {name} shows base and auto only", NoProgramWarning, stacklevel=2)
    programs = {n: rec.source for n, rec in found.items()}
    choices = {n: candidates(n, store) for n in names} if enhance else {}
    splits = [split_dataset(ds, scale="standard") for ds in (demo_suite() if datasets is None else datasets)]
    total, rows, done = len(splits) * len(names), [], 0
    for split in splits:
        for name in names:
            if progress is not None:
                progress(done, total, split.name, name)
            t0 = perf_counter()
            ran = methods if name not in missing else ("base", "auto")
            result = evaluate(split, name, programs.get(name), seed=seed, methods=ran,
                              auto_candidates=choices.get(name))
            seconds = perf_counter() - t0
            done += 1
            rows.extend({"dataset": split.name, "detector": name, "method": method, **result["metrics"][method],
                         "seconds": seconds} | (_choice(result["selection"]) if method == "auto" else {})
                        for method in ran)
    return rows


def _choice(selection):
    """What ``auto`` chose: the candidate, its lambda (None: the base kept) and whether it was the default."""
    return {"choice": selection["choice"], "lam": selection["lam"],
            "by_default": bool((selection.get("expected_gain") or {}).get("by_default"))}
