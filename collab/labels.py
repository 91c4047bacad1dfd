"""A few known anomalies: parse them, check them, keep them out of every fit.

``EnhancedDetector.fit(X, y_known=...)`` takes row indices or a boolean mask;
``--labels FILE`` takes a file of row ids, one per line (the id column's values,
else 0-based row numbers). Either way the known anomalies are removed from the
rows the detector is fitted on, and ``program="auto"`` chooses by cross-validated
AUC-PR on them (:func:`collab.selection.pick_by_labels`); with three or more they
are also a source of synthetic rows (:class:`collab.synthesis.KnownAnomalies`).
"""
import csv
import re
from pathlib import Path

import numpy as np

from das.collab.data import DataError

#: Fewer known anomalies than this still choose, but the estimate rests on very few rows.
MIN_KNOWN = 1
_WHOLE = re.compile(r"([-+]?\d+)\.0*")  # "1211.0": an integer id written as a float (Excel, pandas)
_FIELD_SEPARATORS = ",;\t|"  # what splits a line of a table saved as a labels file


def _id_key(rid):
    """How an id is matched: ``1211.0`` as ``1211``, anything else as written."""
    whole = _WHOLE.fullmatch(rid)
    return whole.group(1) if whole else rid


def known_mask(y_known, n_rows):
    """Boolean mask of the known anomalies among ``n_rows`` training rows.

    ``y_known``: integer row indices (each once, in ``[0, n_rows)``) or a
    boolean mask of length ``n_rows``. At least one known anomaly and at
    least two other rows (the detector is fitted on those). Raises
    :class:`collab.data.DataError` otherwise.
    """
    arr = np.asarray(y_known)
    if arr.dtype == bool:
        if arr.shape != (n_rows,):
            raise DataError(f"y_known: a boolean mask must have one entry per training row ({n_rows}), "
                            f"got shape {arr.shape}")
        mask = arr.copy()
    else:
        if arr.ndim != 1:
            raise DataError(f"y_known: expected row indices (1-D) or a boolean mask, got shape {arr.shape}")
        if arr.size and not np.issubdtype(arr.dtype, np.integer):
            if not (np.issubdtype(arr.dtype, np.floating) and np.all(np.isfinite(arr)) and np.all(arr == arr.round())):
                raise DataError(f"y_known: row indices must be integers, got {arr.dtype} values")
            arr = arr.astype(np.int64)
        bad = arr[(arr < 0) | (arr >= n_rows)]
        if bad.size:
            raise DataError(f"y_known: row index {int(bad[0])} is out of range (the data has {n_rows} rows)")
        values, counts = np.unique(arr, return_counts=True)
        if len(arr) == n_rows and set(values.tolist()) <= {0, 1}:
            raise DataError("y_known: got a 0/1 vector as long as the data; pass row indices or a boolean "
                            "mask (e.g. y == 1), not labels")
        if (counts > 1).any():
            raise DataError(f"y_known: row index {int(values[counts > 1][0])} is given more than once")
        mask = np.zeros(n_rows, dtype=bool)
        mask[arr.astype(np.int64)] = True
    if mask.sum() < MIN_KNOWN:
        raise DataError("y_known: no known anomaly given")
    if n_rows - mask.sum() < 2:
        raise DataError("y_known: at least two rows must remain to fit on once the known anomalies are removed")
    return mask


def read_label_ids(path, row_ids, y=None, id_name=None, dropped=None):
    """Positions of the rows named in a labels file: one row id per line (blank lines ignored).

    ``row_ids``: the dataset's ids (:meth:`collab.data.Dataset.row_ids`): an id
    column's values, else row numbers, where every line must be an integer;
    ``1211.0`` matches ``1211``. A first line that is a header is skipped: the id
    column's name ``id_name``, or a word that is not a number when ids are row numbers.
    ``y``: the file's labels, if any: a known anomaly labelled normal there is
    refused. ``dropped``: ids of rows dropped for missing values (named as such). Raises :class:`collab.data.DataError` for an unreadable or empty
    file, an unknown id, a non-integer row number or a repeated id.
    """
    try:
        # utf-8-sig: a byte order mark (Excel, Notepad) is not part of the first id
        lines = [line.strip() for line in Path(path).read_text(encoding="utf-8-sig").splitlines()]
    except UnicodeDecodeError:
        raise DataError(f"--labels {path}: not UTF-8 text (save it as UTF-8, one row id per line)") from None
    except OSError as exc:
        raise DataError(f"--labels {path}: cannot read ({exc})") from None
    row_ids = np.asarray(row_ids)
    numbered = np.issubdtype(row_ids.dtype, np.integer)
    where, repeated = {}, set()
    for i, v in enumerate(row_ids.tolist()):
        repeated.update([_id_key(str(v))] if _id_key(str(v)) in where else [])
        where[_id_key(str(v))] = i
    ids = [_line_id(line, where, path) for line in lines if line]
    header = ids[0] if ids and _is_header(ids[0], where, numbered, id_name) else None
    if header is not None:
        ids = ids[1:]
    if not ids:
        why = "" if header is None else f": its only line, {header!r}, is not a row id (read as a header)"
        raise DataError(f"--labels {path}: the file names no row{why} (expected one row id per line)")
    gone = set() if dropped is None else {_id_key(str(v)) for v in dropped.tolist()}
    positions, seen = [], set()
    for rid in ids:
        rid = _id_key(rid)
        if numbered:
            try:
                rid = str(int(rid))
            except ValueError:
                raise DataError(f"--labels {path}: {rid!r} is not an integer row number") from None
        if rid in seen:
            raise DataError(f"--labels {path}: row id {rid} is given more than once")
        seen.add(rid)
        if rid not in where and rid in gone:
            raise DataError(f"--labels {path}: row {rid} was dropped for its missing values (--missing drop); "
                            "fill them instead (--missing mean) or leave the row out of the labels file")
        if rid not in where:
            what = (f"the data's {len(row_ids)} row ids run from {row_ids.min()} to {row_ids.max()}; row numbers "
                    "are 0-based: the first data row is 0" if numbered else
                    f"ids are the id column's values, such as {str(row_ids[0])!r}; row numbers apply "
                    "only to a file without an id column")
            raise DataError(f"--labels {path}: no row has id {rid} ({what})")
        if rid in repeated:
            raise DataError(f"--labels {path}: id {rid} names more than one row of the data; "
                            "the id column must name each row once")
        positions.append(where[rid])
    positions = np.array(positions, dtype=np.int64)
    if y is not None and (np.asarray(y)[positions] == 0).any():
        first = ids[int(np.flatnonzero(np.asarray(y)[positions] == 0)[0])]
        raise DataError(f"--labels {path}: row id {first} is labelled normal in the data's label column")
    if len(row_ids) - len(positions) < 2:
        raise DataError(f"--labels {path}: at least two rows must remain to fit on")
    return positions


def _line_id(line, where, path):
    """The row id a labels file's line names: the line as written when it is an id, else the one field
    of a CSV line, unquoted (``"1000"`` names 1000); a line of several fields (a table saved whole,
    ``1000,1``) is refused."""
    if _id_key(line) in where:
        return line
    for sep in _FIELD_SEPARATORS:
        fields = next(csv.reader([line], delimiter=sep, skipinitialspace=True))
        if len(fields) > 1:
            raise DataError(f"--labels {path}: one row id per line, but this file has {len(fields)} columns "
                            f"(line {line!r} splits at {sep!r}): save only the id column, one id per line")
    return fields[0].strip() if fields else line


def _is_header(line, where, numbered, id_name):
    """Whether a labels file's first line names the id column rather than a row."""
    if _id_key(line) in where:
        return False
    if numbered:
        try:
            float(line)
        except ValueError:
            return True
        return False
    return id_name is not None and line.lower() == id_name.lower()


def check_scaled_known(X_known):
    """Refuse known anomalies that the scaling (fitted without them) puts beyond float32's range,
    where the enhancement's forest cannot take them; returns ``X_known``."""
    from das.sandbox.results import MAX_ABS_VALUE

    far = ~(np.abs(X_known) <= MAX_ABS_VALUE).all(axis=1)
    if far.any():
        raise DataError(f"--labels: {int(far.sum())} known anomal{'y lies' if far.sum() == 1 else 'ies lie'} "
                        f"beyond {MAX_ABS_VALUE:.3g} standard deviations of the other rows once scaled; "
                        "rescale those columns (e.g. log) or leave those rows out")
    return X_known
