"""One score per input row, with the user's row ids (``das enhance --out``, ``das score``).

:func:`split_rows` maps the papers' split back to the file: the test rows, or
every row (``--score-all``: the training rows scored by the model they
trained). :func:`collab.pipeline.score_dataset` (``das score``) fills one for
every row, PyOD-style.
"""
import csv
from dataclasses import dataclass

import numpy as np

from das.program_store.paths import written_whole


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
        with written_whole(path, newline="") as fh:  # Ctrl-C leaves the previous file, not half a new one
            writer = csv.writer(fh)
            writer.writerow([name for name, _ in columns])
            writer.writerows(zip(*(vals for _, vals in columns)))


def _floats(values):
    # "+ 0.0" turns -0.0 into 0.0; repr keeps every digit.
    return [repr(float(v) + 0.0) for v in values]


def split_rows(ds, split, test_scores, fusion, fitted=None, known=None):
    """:class:`RowScores` of the test rows, or of every row when ``fitted`` is given.

    ``test_scores``: ``{"base", "enhanced"}`` of ``split.X_test``;
    ``fitted``: the :class:`collab.enhance.Enhancement` fitted on
    ``split.X_train``, which then also scores the training rows.
    ``known``: ``(full, positions, X)`` when ``ds`` is the dataset ``full`` less
    the known anomalies at ``positions`` (``X``: their rows, scaled); with
    ``fitted`` they are scored too (split ``"known"``), so every row of the file is.
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
        if known is not None:
            full, positions, X_known = known
            index = np.delete(np.arange(len(full.X)), positions)[index]  # rows of ds -> rows of the file
            scored = fitted.scores(X_known)
            index = np.concatenate([index, positions])
            base, enhanced = np.concatenate([base, scored["base"]]), np.concatenate([enhanced, scored[fusion]])
            part = np.concatenate([part, ["known"] * len(positions)])
            ds = full
        order = np.argsort(index, kind="stable")  # back to file order
        index, base, enhanced, part = index[order], base[order], enhanced[order], part[order]
    labels = None if ds.y is None else ds.y[index]
    return RowScores(ds.id_name, ds.row_ids()[index], base, enhanced, labels, part)
