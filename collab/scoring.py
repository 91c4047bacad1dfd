"""One score per input row, with the user's row ids (``das enhance --out``, ``das score``).

:func:`split_rows` maps the papers' split back to the file: the test rows, or
every row (``--score-all``: the training rows scored by the model they
trained). :func:`score_dataset` is PyOD's ``fit(X)`` then ``decision_scores_``:
fitted on every row (labels never read), scoring every row.
"""
import csv
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np


@dataclass(frozen=True, eq=False)
class RowScores:
    """Scores of a dataset's rows, in file order.

    Attributes
    ----------
    id_name : str
        The id column's name, or ``"row"`` (0-based row numbers in the file).
    ids, base, enhanced : ndarray of shape (n,)
    labels : ndarray of shape (n,) or None
        1 = anomaly; None for unlabeled data.
    split : ndarray of shape (n,) or None
        ``"train"`` / ``"test"`` per row under the papers' split; None when
        every row was fitted.
    """

    id_name: str
    ids: np.ndarray
    base: np.ndarray
    enhanced: np.ndarray
    labels: np.ndarray | None = None
    split: np.ndarray | None = None

    def to_csv(self, path):
        """Write one line per row: id, label and split (when known), base, enhanced."""
        columns = [(self.id_name, self.ids)]
        columns += [(name, vals) for name, vals in (("label", self.labels), ("split", self.split))
                    if vals is not None]
        columns += [("base", _floats(self.base)), ("enhanced", _floats(self.enhanced))]
        with open(path, "w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow([name for name, _ in columns])
            writer.writerows(zip(*(vals for _, vals in columns)))


def _floats(values):
    # "+ 0.0" turns -0.0 into 0.0; repr keeps every digit.
    return [repr(float(v) + 0.0) for v in values]


def split_rows(ds, split, test_scores, fusion, fitted=None):
    """:class:`RowScores` of the test rows, or of every row when ``fitted`` is given.

    ``test_scores``: ``{"base", "enhanced"}`` of ``split.X_test``;
    ``fitted``: the :class:`collab.pipeline.Enhancement` fitted on
    ``split.X_train``, which then also scores the training rows.
    """
    if fitted is None:
        index, base, enhanced = split.test_index, test_scores["base"], test_scores["enhanced"]
        part = None
    else:
        X_train = split.X_train
        train = fitted.scores(X_train)
        index = np.concatenate([split.train_index, split.test_index])
        base = np.concatenate([train["base"], test_scores["base"]])
        enhanced = np.concatenate([train[fusion], test_scores["enhanced"]])
        part = np.array(["train"] * len(X_train) + ["test"] * len(split.test_index))
        order = np.argsort(index, kind="stable")  # back to file order
        index, base, enhanced, part = index[order], base[order], enhanced[order], part[order]
    labels = None if ds.y is None else ds.y[index]
    return RowScores(ds.id_name, ds.row_ids()[index], base, enhanced, labels, part)


def score_dataset(data, detector, *, fusion="sum", program="certified", classifier="rf", lam=1.0, seed=0,
                  store=None, read=None):
    """``das score``: fit the enhancement on every row of ``data`` and score every row.

    Labels, when the file has them, are never read for fitting; they are
    returned beside the scores. ``read``: options of
    :func:`collab.data.load_dataset` (separator, id column, missing values, ...).

    Returns
    -------
    dict
        ``dataset``, ``detector``, ``fusion``, ``program_sha256``, ``n``,
        ``n_syn``, ``run_id`` and ``rows`` (:class:`RowScores`).
    """
    from sklearn.preprocessing import StandardScaler

    from collab import pipeline
    from collab.data import fingerprint, load_dataset, resolve_dataset

    name = pipeline.detector_name(detector)
    ds = load_dataset(resolve_dataset(data), **(read or {}))
    X = StandardScaler().fit_transform(ds.X)
    fitted = pipeline.fit(X, name, program, store, fusions=(fusion,), classifier=classifier, lam=lam, seed=seed)
    scores = fitted.scores(X)
    run_id = None
    if fitted.program_sha256 is not None:
        run_id = pipeline.record_run(store, fitted, name, SimpleNamespace(fingerprint=fingerprint(ds.X, ds.y)),
                                     seed, {"fusion": fusion, "classifier": classifier, "lam": lam,
                                            "fitted_on": "all rows"})
    rows = RowScores(ds.id_name, ds.row_ids(), scores["base"], scores[fusion], ds.y)
    return {"dataset": ds.name, "detector": name, "fusion": fusion, "program_sha256": fitted.program_sha256,
            "n": len(X), "n_syn": len(fitted.X_syn), "run_id": run_id, "rows": rows}
