"""Datasets and the papers' split protocol.

Reads ODDS/ADBench files (``.npz``/``.mat`` with keys ``X`` and ``y``) and
tables (CSV, TSV and Parquet, parsed by pandas; das adds only its own rules:
which column is the label, which is a row id, and what to do with missing
values), validates them with clear :class:`DataError` messages, and splits them
the way LLM-DAS does: normal samples in file order, the first half trains,
the test set is the second half of the normals plus every anomaly.

Label convention: ``y = 1`` anomaly, ``y = 0`` normal.
"""
import codecs
import csv
import hashlib
import os
import re
import shlex
import warnings
import zipfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: Text tables (CSV; TSV, tab-separated by default) and Parquet files.
TEXT = (".csv", ".tsv")
PARQUET = (".parquet",)
EXTENSIONS = (".npz", ".mat") + TEXT + PARQUET
SCALES = ("standard", "minmax", None)
#: What to do with missing values: refuse (default), drop their rows, fill with column means.
MISSING = ("error", "drop", "mean")
#: Label columns taken without a word (the documented default).
DEFAULT_LABEL_COLUMNS = ("label", "y")
#: Column names (any case) taken as the label with a warning: never silently a feature.
LABEL_NAMES = frozenset({"label", "labels", "y", "class", "target", "outlier", "is_outlier", "anomaly",
                         "is_anomaly", "fraud", "is_fraud", "ground_truth"})
#: Column names (any case; also ``*_id``, ``CustomerID``, ``uuid``, see :func:`_id_like`) taken as row ids
#: with a warning: never silently a feature.
ID_NAMES = frozenset({"id", "row_id", "rowid", "index", "idx", "unnamed: 0", ""})
_NA = frozenset({"", "na", "n/a", "nan", "null", "none", "?", "#n/a", "#n/a n/a"})  # cells read as missing
_NA_CELLS = sorted({v for na in _NA for v in (na, na.upper(), na.title())} | {"NaN"})  # pandas matches exactly
#: Cells read as missing in a column of numbers only (Excel/accounting "-", "--"; SAS/Stata "."): a text
#: column (ids) keeps them as written.
_NA_MARKS = frozenset({"-", "--", "."})
_ID_NAME = re.compile(r"(?:^|[_\s.\-])[iI][dD]$|[a-z0-9]I[dD]$|^(?:uuid|guid|UUID|GUID)$")
_UUID = r"\{?[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}\}?"
_SEPARATORS = ",;\t|"
#: Extensions das does not read, and what to do instead.
_SAVE_AS = {**dict.fromkeys((".xlsx", ".xls", ".xlsm", ".ods"), "a spreadsheet: save it as CSV"),
            ".txt": "a delimited text file? rename it .csv, or .tsv if tab-separated"}
_DECIMAL_COMMA = re.compile(r"[-+]?\d+,\d+")  # "0,0049": a number written with a decimal comma
#: Spaces that group thousands: a space, a no-break space (Excel, French exports), a narrow no-break
#: space (recent French locales), a thin space; ``--thousands ' '`` reads them all.
_SPACES = " \u00a0\u202f\u2009"
#: "1,234.5", "1.234,5", "1 234": a number written with a thousands separator (group ``t``).
_THOUSANDS = re.compile(rf"[-+]?\d{{1,3}}(?P<t>[,.'{_SPACES}])\d{{3}}(?:(?P=t)\d{{3}})*(?:[.,]\d+)?")
#: "33.6%", "$1,880.00", "-12 €": a number with a percent or currency sign (group ``sign``).
_FORMATTED = re.compile(r"(?P<pre>[-+]?\s*[$€£¥]?)\s*(?P<num>\d[\d,.'\s]*)\s*(?P<post>[%€£¥$]?)")
_SEP_NAMES = {"\\t": "\t", "tab": "\t", "TAB": "\t"}  # how a tab is typed in a shell
_EXCEL_SEP = re.compile(r"sep=(.)\r?\n")  # the first line Excel writes to name the separator
_UNNAMED = re.compile(r"Unnamed: \d+")  # pandas' name for a column whose header cell is empty
#: Largest feature magnitude read: squares (the scaler's variance) of larger values overflow float64.
MAX_ABS_FEATURE = 1e150
_MAX_LOCATIONS = 3  # how many bad cells an error message names
_MAX_CELL = 40  # characters of a bad cell quoted in a message


class DataError(ValueError):
    """A dataset file or name that cannot be used; the message says why."""


class DataWarning(UserWarning):
    """Data that loads but deserves a look (a guessed label or id column, constant columns)."""


@dataclass(frozen=True, eq=False)
class Dataset:
    """A validated dataset.

    Attributes
    ----------
    name : str
        File stem (``"cardio"``) or the demo dataset's name.
    X : ndarray of shape (n, d), float64
    y : ndarray of shape (n,), int64, or None
        1 = anomaly, 0 = normal; None for an unlabeled CSV (scoring only).
    source : str
        Where the data came from (a path or a description).
    ids : ndarray of shape (n,) or None
        Row ids: the values of the id column, else row numbers (None: 0..n-1).
    id_name : str
        The id column's name, or ``"row"`` for row numbers.
    dropped_ids : ndarray or None
        Ids of the file's rows dropped for missing values (``missing="drop"``), if any.
    """

    name: str
    X: np.ndarray
    y: np.ndarray | None
    source: str
    ids: np.ndarray | None = None
    id_name: str = "row"
    dropped_ids: np.ndarray | None = None

    def row_ids(self):
        """Each row's id: the id column's values, else its 0-based row number in the file."""
        return np.arange(len(self.X)) if self.ids is None else self.ids

    @property
    def n_anomalies(self):
        """Number of anomalies (0 when unlabeled)."""
        return 0 if self.y is None else int(self.y.sum())


@dataclass(frozen=True, eq=False)
class Split:
    """Train/test arrays of one dataset under the papers' protocol.

    Attributes
    ----------
    name : str
    X_train : ndarray (n_train, d)
        The first half (floor) of the normal samples, in file order, scaled.
    X_test : ndarray (n_test, d)
        The other normals and all anomalies, in file order, scaled.
    y_test : ndarray (n_test,) int64, or None for unlabeled data
    fingerprint : str
        :func:`fingerprint` of the raw (unscaled) dataset.
    scaler : object or None
        The scikit-learn scaler fitted on ``X_train`` (None when unscaled).
    train_index, test_index : ndarray of int
        Row numbers of the train and test samples in the original file.
    """

    name: str
    X_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray | None
    fingerprint: str
    scaler: object
    train_index: np.ndarray
    test_index: np.ndarray


# ---------------------------------------------------------------- fingerprint
def fingerprint(X, y=None):
    """SHA-256 of a dataset's canonical bytes.

    ``X`` is taken as C-ordered float64 and ``y`` as int64; dtype, shape and
    bytes of each enter the hash, so equal data hashes equally whatever the
    file format, and any changed value, row order or shape changes the hash.
    """
    h = hashlib.sha256()
    parts = [("X", np.ascontiguousarray(X, dtype=np.float64))]
    if y is not None:
        parts.append(("y", np.ascontiguousarray(np.ravel(y), dtype=np.int64)))
    for key, arr in parts:
        h.update(f"{key}:{arr.dtype.str}:{arr.shape};".encode())
        h.update(arr.reshape(-1).view(np.uint8))  # the array's own bytes, not a copy of them
    if y is None:
        h.update(b"y:none;")
    return h.hexdigest()


# ---------------------------------------------------------------- readers
def _read_npz(path):
    # np.load treats a file that is not a zip archive as a pickle: refuse it first.
    if not zipfile.is_zipfile(path):
        raise DataError(f"{path}: not a readable .npz file (not a zip archive)")
    try:
        with np.load(path, allow_pickle=False) as f:
            return {k: f[k] for k in f.files}
    except ValueError as exc:  # object arrays need pickle, which we never allow
        raise DataError(f"{path}: cannot read .npz without pickle ({exc})") from exc
    except Exception as exc:  # zipfile.BadZipFile, OSError, ...
        raise DataError(f"{path}: not a readable .npz file ({exc})") from exc


def _read_mat(path):
    import scipy.io

    try:
        raw = scipy.io.loadmat(path)
    except NotImplementedError:  # scipy's answer to MATLAB v7.3 (HDF5) files
        return _read_mat_v73(path)
    except Exception as exc:
        raise DataError(f"{path}: not a readable .mat file ({exc})") from exc
    return {k: v for k, v in raw.items() if not k.startswith("__")}


def _read_mat_v73(path):
    try:
        import h5py
    except ImportError:
        raise DataError(f"{path}: MATLAB v7.3 (HDF5) file; install h5py to read it, "
                        "or re-save it in MATLAB with save(..., '-v7')") from None
    try:
        with h5py.File(path, "r") as f:
            # HDF5 keeps MATLAB's column-major layout: transpose back to (n, d).
            return {k: np.asarray(f[k]).T for k in f.keys() if not k.startswith("#")}
    except OSError as exc:
        raise DataError(f"{path}: not a readable MATLAB v7.3 (HDF5) file ({exc})") from exc


def _codec(encoding):
    """Python's name of a text encoding (``utf-8-sig`` for UTF-8: a byte-order mark is skipped)."""
    try:
        name = codecs.lookup(encoding).name
    except LookupError:
        raise DataError(f"unknown encoding {encoding!r} (e.g. utf-8, cp1252, latin-1)") from None
    return "utf-8-sig" if name == "utf-8" else name


def _separator(path, sep, decimal, codec):
    """``(separator, lines to skip)``: ``sep`` if given, else the one an Excel ``sep=X`` first line
    names, else a tab for ``.tsv``, else guessed from the first 64 KiB; an Excel line is skipped."""
    with open(path, "rb") as fh:
        sample = fh.read(1 << 16).decode(codec, errors="ignore")
    excel = _EXCEL_SEP.match(sample)
    if sep:
        return sep, int(excel is not None)
    if excel:
        return excel.group(1), 1
    return ("\t" if path.suffix.lower() == ".tsv" else _sniff_sep(sample, decimal)), 0


def _sniff_sep(sample, decimal):
    """The separator of a text table's ``sample`` (``,`` else; ``;`` for decimal commas). The decimal
    mark itself only when no other separator fits and the sample quotes its decimal numbers
    (``6,"33,6",1``: the quotes tell the decimal comma from the separator)."""
    candidates = _SEPARATORS.replace(decimal, "")
    try:
        return csv.Sniffer().sniff(sample, delimiters=candidates).delimiter
    except csv.Error:
        pass
    if decimal in _SEPARATORS and re.search(rf'"\s*[-+]?\d+{re.escape(decimal)}\d+\s*"', sample):
        try:
            if csv.Sniffer().sniff(sample, delimiters=_SEPARATORS).delimiter == decimal:
                return decimal
        except csv.Error:
            pass
    return candidates[0]


def _is_number(cell, decimal="."):
    cell = str(cell).strip()
    try:
        float(cell.replace(decimal, ".") if decimal != "." else cell)
    except ValueError:
        return cell.lower() in _NA or cell in _NA_MARKS
    return True


def _short(cell):
    cell = str(cell)
    return cell if len(cell) <= _MAX_CELL else cell[:_MAX_CELL] + "[...]"


def _read_text(path, *, sep, header, decimal, thousands, codec):
    """A CSV/TSV file as a DataFrame of the file's columns (strings where a cell is not a number)."""
    import pandas as pd

    sep, skip = _separator(path, sep, decimal, codec)
    if thousands == decimal:
        raise DataError(f"{path}: the thousands separator and the decimal mark are both {decimal!r}")
    pandas_decimal, pandas_thousands = decimal, " " if thousands and thousands in _SPACES else thousands
    if sep == decimal:  # only quoted cells can hold the mark: pandas reads them as text, _numeric as numbers
        if decimal == ".":
            raise DataError(f"{path}: the separator and the decimal mark are both {sep!r}")
        pandas_decimal, pandas_thousands = ".", None if thousands == "." else pandas_thousands
    read = {"sep": sep, "decimal": pandas_decimal, "thousands": pandas_thousands, "na_values": _NA_CELLS,
            "keep_default_na": False,
            "skipinitialspace": True, "index_col": False, "encoding": codec, "engine": "c",
            "skiprows": skip, "low_memory": False}  # one type per column, never per chunk
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", pd.errors.ParserWarning)  # pandas' are about data it would lose
            frame, header = _read_frames(path, header, decimal, read)
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: empty file (a header row and data rows are needed)") from None
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: {_not_text(codec, exc, path)}") from None
    except pd.errors.ParserError as exc:
        raise DataError(f"{path}: {_parser_message(exc, sep, decimal)}") from None
    except pd.errors.ParserWarning:  # a row of one field more than the header: pandas drops the last
        why = _unquoted_decimals(sep, decimal) or f"a header cell missing, or a separator other than {sep!r}? pass --sep"
        raise DataError(f"{path}: the data rows have more fields than the header ({why})") from None
    frame.columns = _check_unique([str(c).strip() for c in frame.columns], path)
    frame = _without_unnamed_empty(frame, path)
    frame.attrs["headerless"] = not header  # line 1 is data: a word there may be a header read as data
    return frame, skip + (2 if header else 1)


def _read_frames(path, header, decimal, read):
    """``(frame, header)``: the table pandas reads with ``read``, ``header`` decided from its first row."""
    import pandas as pd

    first = pd.read_csv(path, header=None, nrows=1, dtype=str, **read)
    if header is None:  # like pandas' header="infer", but a first row of numbers is data
        header = not all(_is_number(c, decimal) for c in first.iloc[0].fillna(""))
        if not header:
            warnings.warn(f"{path.name}: the first row holds only numbers: read as data, columns named "
                          f"0..{first.shape[1] - 1} (pass --header if it is a header)", DataWarning, stacklevel=5)
    if header:  # pandas renames a repeated name ("a", "a.1"): check the names as written
        _check_unique([c for c in first.iloc[0] if isinstance(c, str) and c.strip()], path)
    names = None if header else [str(j) for j in range(first.shape[1])]
    return pd.read_csv(path, header=0 if header else None, names=names, **read), header


def _not_text(codec, exc, path):
    """Why a text table could not be decoded, and the ``--encoding`` likely to read it."""
    with open(path, "rb") as fh:
        if fh.read(2) in (b"\xff\xfe", b"\xfe\xff"):  # UTF-16's byte-order mark (Excel's "Unicode text")
            return "a UTF-16 text file (it starts with UTF-16's byte-order mark); pass --encoding utf-16"
    if codec == "utf-8-sig":
        return f"not a UTF-8 text file ({exc}); saved on Windows (Excel)? pass --encoding cp1252"
    return f"not a {codec} text file ({exc}); pass the file's --encoding"


def _without_unnamed_empty(frame, path):
    """``frame`` less the columns with no name (an empty header cell) and no value at all: what a
    separator at the end of every line leaves (Excel, SAP exports); a DataWarning names them."""
    empty = [c for c in frame.columns if _UNNAMED.fullmatch(c) and frame[c].isna().all()]
    if empty:
        warnings.warn(f"{path.name}: column(s) {', '.join(empty)} with no name and no value dropped "
                      "(a separator at the end of every line?)", DataWarning, stacklevel=5)
    return frame.drop(columns=empty)


def _check_unique(names, path):
    """``names`` once no two of them are the same after trimming spaces (else a DataError naming them)."""
    counts = Counter(str(name).strip() for name in names)
    repeated = [name for name, n in counts.items() if n > 1]
    if repeated:
        shown = ", ".join(repr(name) for name in repeated[:_MAX_LOCATIONS])
        raise DataError(f"{path}: duplicate column name(s) {shown} (after trimming spaces); "
                        "every column needs its own name")
    return names


def _parser_message(exc, sep, decimal="."):
    """pandas' tokenizer error in das's words: which line has how many fields."""
    found = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(exc))
    if not found:
        return f"not a readable table ({str(exc).strip().splitlines()[-1][:200]})"
    want, line, saw = found.groups()
    hint = _unquoted_decimals(sep, decimal) or (f"a separator other than {sep!r}? pass --sep" if want == "1" else "")
    return f"line {line} has {saw} fields, the header has {want}" + (f" ({hint})" if hint else "")


def _unquoted_decimals(sep, decimal):
    """Why a file whose separator is also its decimal mark splits a number in two ("" otherwise)."""
    if sep != decimal:
        return ""
    return (f"{sep!r} separates the fields and is also the decimal mark: such a file is read only where "
            f'every number with a decimal mark is quoted ("33{decimal}6"); re-save it with '
            f"{';' if sep == ',' else ','} between fields")


def _read_parquet(path):
    import pandas as pd

    try:
        frame = pd.read_parquet(path, engine="pyarrow")
    except Exception as exc:  # pyarrow.ArrowInvalid, OSError, ...: a file we cannot read is the user's to fix
        raise DataError(f"{path}: not a readable Parquet file ({str(exc).strip()[:200]})") from None
    frame.columns = _check_unique([str(c) for c in frame.columns], path)
    return frame.reset_index(drop=True), None


def _numeric(frame, column, path, first_line, decimal, label=False, sep=None, thousands=None):
    """Column ``column`` as float64 (NaN where missing); a cell that is not a number is a DataError
    (``first_line``: the file line of the first row; None: rows are counted from 0; ``sep``: the
    separator the user gave, if any). Cells pandas left as text are read here too: with a decimal
    mark pandas was not given (quoted, in a file separated by it), or grouped by a space other than
    U+0020 when ``thousands`` is a space."""
    import pandas as pd

    col = frame[column]
    if pd.api.types.is_bool_dtype(col) or pd.api.types.is_numeric_dtype(col):
        values = col.to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        text = col.astype("string").str.strip()
        text = text.mask(text.isin(_NA_MARKS))  # "-", "--", ".": no value
        if thousands:
            text = text.str.replace(f"[{_SPACES if thousands in _SPACES else re.escape(thousands)}]", "", regex=True)
        if decimal != ".":
            text = text.str.replace(decimal, ".", regex=False)
        values = pd.to_numeric(text, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        bad = np.flatnonzero(np.isnan(values) & text.notna().to_numpy())
        if len(bad):
            i = int(bad[0])
            cell = str(col.iloc[i])
            if frame.attrs.get("headerless") and list(bad) == [0]:  # only line 1's cell: a header
                hint = f" (line {first_line} looks like a header; leave out --no-header)"
            else:
                hint = ("; labels must be 0 (normal) or 1 (anomaly)" if label else
                        _text_hint(cell.strip(), frame.shape[1] == 1, decimal, sep, thousands))
            raise DataError(f"{path}: non-numeric value {_short(cell)!r} at {_row(i, first_line)}, "
                            f"column {column!r}{hint}")
    return values


def _text_hint(cell, one_column, decimal, sep, thousands=None):
    """Why a feature cell is not a number, and the option that would read it (one table column only:
    the line was not split); never the ``--thousands`` already given."""
    if one_column and any(s in cell for s in _SEPARATORS):
        split_by = next((s for s in _SEPARATORS if s in cell and s != decimal), decimal)
        if split_by == decimal:
            return (f" (one column only: {decimal!r} seems to separate the fields but is also the decimal mark "
                    "given (--decimal); leave out --decimal, or pass the file's --sep; a file separated by "
                    f'{decimal!r} is read with --decimal {decimal} only where its decimal numbers are quoted: "1{decimal}5")')
        if sep:
            return f" (one column only: the separator {sep!r} given did not split the line; is it {split_by!r}?)"
        return " (one column only: is the separator right? pass --sep)"
    grouped = _THOUSANDS.fullmatch(cell)
    comma = decimal == "." and _DECIMAL_COMMA.fullmatch(cell) is not None
    suggested = grouped and (" " if grouped["t"] in _SPACES else grouped["t"])
    if grouped and grouped["t"] != decimal and suggested != (" " if thousands and thousands in _SPACES else thousands):
        option = f"a thousands separator? pass --thousands {shlex.quote(suggested)}"
        return f" (a decimal comma? pass --decimal ,; or {option})" if comma else f" ({option})"
    if comma:
        return " (a decimal comma? pass --decimal ,)"
    formatted = _FORMATTED.fullmatch(cell)
    sign = formatted and ((formatted["pre"].strip(" +-") or "") + formatted["post"])
    if sign:
        what = "a percentage" if formatted["post"] == "%" else "an amount with a currency sign"
        return (f" ({what}? das reads plain numbers: save the column without the {sign!r} sign "
                "(as a number, not formatted))")
    return " (text? --drop the column, or name it with --id-column)"


def _holds_uuids(col):
    """Whether every cell of a text column is a UUID (a key, never a feature)."""
    import pandas as pd

    if pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col) or col.isna().any() or not len(col):
        return False
    return bool(col.astype("string").str.strip().str.fullmatch(_UUID).all())


def _find(header, name, what, path):
    """Index of column ``name`` (exact, else case-insensitive)."""
    if name in header:
        return header.index(name)
    folded = [h.lower() for h in header]
    if name.lower() in folded:
        return folded.index(name.lower())
    raise DataError(f"{path}: {what} {name!r} not found; columns are {header}")


def _label_like(name):
    return name.lower() in LABEL_NAMES


def _id_like(name):
    """``id``, ``row_id``, ``Customer ID``, ``CustomerID``, ``customerId``, ``uuid``, ...: a row key by its name."""
    return name.lower() in ID_NAMES or bool(_ID_NAME.search(name))


def _guess(header, taken, looks_like, what, option, path):
    """The one column index (not in ``taken``) that ``looks_like``, or None; warns unless documented."""
    found = [j for j in range(len(header)) if j not in taken and looks_like(j)]
    if len(found) > 1:
        raise DataError(f"{path}: several columns look like the {what} "
                        f"({', '.join(repr(header[j]) for j in found)}); pass {option} NAME "
                        "(and --drop the others)")
    if found and not (what == "label" and header[found[0]] in DEFAULT_LABEL_COLUMNS):
        warnings.warn(f"{path.name}: column {header[found[0]]!r} taken as the {what}, not a feature "
                      f"(pass {option} to choose another, or --drop it)", DataWarning, stacklevel=5)
    return found[0] if found else None


def _check_roles(names, label, ident, dropped, path):
    """Refuse a column that the options name in two roles however they spell it (label, id, dropped)."""
    roles = {}
    for role, j in [("the label", label), ("the row ids", ident), *(("dropped", j) for j in dropped)]:
        if j is not None and roles.setdefault(j, role) != role:
            raise DataError(f"{path}: column {names[j]!r} would be {roles[j]} and {role}: a column is the "
                            "label, the row ids or dropped, not two of these (see --label-column, "
                            "--id-column, --drop)")


def _read_table(path, label_column=None, *, sep=None, header=None, id_column=None, drop=(), decimal=".",
                thousands=None, codec="utf-8-sig", unused_labels=False):
    """Read a CSV/TSV/Parquet file with pandas, then apply das's rules: label, id and feature columns."""
    if path.suffix.lower() in PARQUET:
        frame, first_line = _read_parquet(path)
    else:
        frame, first_line = _read_text(path, sep=sep, header=header, decimal=decimal, thousands=thousands,
                                       codec=codec)
    if not len(frame):
        raise DataError(f"{path}: " + ("a header but no data rows" if first_line else "no rows"))
    names = list(frame.columns)
    dropped = {_find(names, d, "column", path) for d in drop}
    label = (_find(names, label_column, "label column", path) if label_column is not None
             else _guess(names, dropped, lambda j: _label_like(names[j]), "label", "--label-column", path))
    taken = dropped | {label}
    if id_column is not None:
        ident = _find(names, id_column, "id column", path)
    else:
        ident = _guess(names, taken, lambda j: _id_like(names[j]) or _holds_uuids(frame.iloc[:, j]),
                       "id", "--id-column", path)
    _check_roles(names, label, ident, dropped, path)
    features = [j for j in range(len(names)) if j not in taken | {ident}]
    also_ids = [names[j] for j in features if _id_like(names[j])]
    if also_ids:  # a row counter as a feature learns the file's order (anomalies often come last)
        raise DataError(f"{path}: column(s) {', '.join(map(repr, also_ids))} also look like row ids, not "
                        f"features: {' '.join('--drop ' + shlex.quote(c) for c in also_ids)} "
                        "(or choose it with --id-column)")
    if not features:
        raise DataError(f"{path}: no feature column left (columns are {names})")
    column = lambda j, **kw: _numeric(frame, names[j], path, first_line, decimal, sep=sep,  # noqa: E731
                                      thousands=thousands, **kw)
    X = np.column_stack([column(j) for j in features]) if len(frame) else np.empty((0, len(features)))
    ids = None if ident is None else frame.iloc[:, ident].astype("string").str.strip().fillna("")
    if ids is not None and ids.duplicated().any():
        repeated = ids[ids.duplicated()].unique()
        warnings.warn(f"{path.name}: the id column {names[ident]!r} repeats {len(repeated)} id(s) (e.g. "
                      f"{_short(str(repeated[0]))!r}): rows that share an id cannot be told apart in the "
                      "scores or by --labels", DataWarning, stacklevel=3)
    return {"X": X,
            "y": None if label is None else _labels(lambda: column(label, label=True), unused_labels, path),
            "ids": None if ids is None else ids.to_numpy(dtype=object),
            "id_name": "row" if ident is None else names[ident],
            "label_name": None if label is None else names[label],
            "columns": [names[j] for j in features],
            "first_line": first_line}


# ---------------------------------------------------------------- validation
def _as_features(X, path, missing="error", columns=None, first_line=None):
    X = np.asarray(X)
    if X.dtype.kind not in "biuf":
        raise DataError(f"{path}: X must be numeric; got dtype {X.dtype}")
    if X.ndim != 2:
        raise DataError(f"{path}: X must be 2-D (n_samples, n_features); got shape {X.shape}")
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise DataError(f"{path}: empty dataset (X has shape {X.shape})")
    X = np.ascontiguousarray(X, dtype=np.float64)
    lo, hi = X.min(), X.max()  # NaN when any cell is NaN
    if np.isfinite(lo) and np.isfinite(hi) and max(-lo, hi) <= MAX_ABS_FEATURE:
        return X  # every cell finite and in range, found without a mask the size of X
    bad = np.isinf(X) if missing != "error" else ~np.isfinite(X)
    if bad.any():
        n_nan = int(np.isnan(X[bad]).sum())
        n_inf = int(bad.sum()) - n_nan
        found = " and ".join(f"{k} {what} value(s)" for k, what in ((n_nan, "missing"), (n_inf, "infinite")) if k)
        hints = ["pass --missing drop (drop those rows) or --missing mean (fill with column means)"] if n_nan else []
        hints += ["fix or drop the rows with infinite values (--missing handles only missing values)"] if n_inf else []
        raise DataError(f"{path}: {found}, first at {first_cells(bad, columns, first_line)}; {'; '.join(hints)}")
    huge = np.abs(X) > MAX_ABS_FEATURE  # NaN compares False: missing cells are the policy's
    if huge.any():
        raise DataError(f"{path}: X has {int(huge.sum())} value(s) of magnitude above {MAX_ABS_FEATURE:g}, "
                        f"first at {first_cells(huge, columns, first_line)}; their squares overflow the scaling (rescale those columns)")
    return X


def first_cells(mask, columns=None, first_line=None):
    """``(row r, column c), ...`` of the first cells ``mask`` marks: ``column 'name'`` when ``columns``
    names them, ``line l`` when ``first_line`` is the file line of row 0 (a text table)."""
    rows, cols = np.nonzero(mask)
    return ", ".join(f"({_row(r, first_line)}, column {c if columns is None else repr(columns[c])})"
                     for r, c in zip(rows[:_MAX_LOCATIONS], cols[:_MAX_LOCATIONS]))


def _row(i, first_line=None):
    """Where row ``i`` is: its file line when ``first_line`` (row 0's line) is known, else ``row i``."""
    return f"row {i}" if first_line is None else f"line {i + first_line}"


def _handle_missing(arrays, missing, path):
    """Apply the ``missing`` policy to NaN features: drop their rows or fill with column means. With
    ``drop``, rows whose label is missing go too (a label cannot be filled in)."""
    X, y = arrays["X"], arrays["y"]
    nan = np.isnan(X)
    y = None if y is None else np.asarray(y).ravel()
    unlabeled = (np.isnan(y) if y is not None and y.dtype.kind == "f" and len(y) == len(X)
                 else np.zeros(len(X), dtype=bool))
    if not nan.any() and not (missing == "drop" and unlabeled.any()):
        return arrays
    empty = np.flatnonzero(nan.all(axis=0)) if nan.any() else []
    if len(empty):
        columns = arrays.get("columns") or range(X.shape[1])
        raise DataError(f"{path}: column(s) {', '.join(str(columns[j]) for j in empty)} hold no value "
                        "at all (--drop them)")
    if missing == "mean":
        means = np.nanmean(X, axis=0)
        warnings.warn(f"{path.name}: {int(nan.sum())} missing value(s) filled with their column's mean",
                      DataWarning, stacklevel=3)
        return dict(arrays, X=np.where(nan, means, X))
    keep = ~nan.any(axis=1) & ~unlabeled
    label = f" ({int(unlabeled.sum())} without a label)" if unlabeled.any() else ""
    warnings.warn(f"{path.name}: {int((~keep).sum())} row(s) with missing values dropped{label}", DataWarning,
                  stacklevel=3)
    ids = np.arange(len(X)) if arrays.get("ids") is None else arrays["ids"]
    return dict(arrays, X=X[keep], y=None if y is None else y[keep], ids=ids[keep], rows=np.flatnonzero(keep),
                dropped=ids[~keep])


def _warn_constant(X, columns, path):
    const = np.flatnonzero(np.ptp(X, axis=0) == 0) if len(X) else []
    if len(const) == X.shape[1]:
        warnings.warn(f"{path.name}: every feature column is constant: all rows look alike, every score "
                      "ties (AUC 0.5)", DataWarning, stacklevel=3)
    elif len(const):
        names = ", ".join(str(columns[j]) for j in const[:10]) + (", ..." if len(const) > 10 else "")
        warnings.warn(f"{path.name}: {len(const)} constant column(s) ({names}) carry no information "
                      "(--drop them)", DataWarning, stacklevel=3)


def _warn_label_like(X, columns, path):
    """Warn about 0/1 columns of a table read without a label: one may be the label under a name
    das does not know (``Outcome``), and as a feature it gives the answer away."""
    binary = [j for j in range(X.shape[1]) if np.isin(X[:, j], (0.0, 1.0)).all() and np.ptp(X[:, j]) > 0]
    if binary:
        names = ", ".join(repr(str(columns[j])) for j in binary[:5]) + (", ..." if len(binary) > 5 else "")
        warnings.warn(f"{path.name}: no label column; {len(binary)} feature column(s) hold only 0 and 1 ({names}). "
                      "If one is the label, pass --label-column NAME: as a feature it gives the answer away",
                      DataWarning, stacklevel=3)


def _labels(read, unused, path):
    """``read()``, the labels; when the caller does not use them (``unused``: ``das score``), None with
    a DataWarning where they cannot be read, instead of the DataError."""
    try:
        return read()
    except DataError as exc:
        if not unused:
            raise
        why = str(exc).removeprefix(f"{path}: ")
        warnings.warn(f"{path.name}: labels not read, they are not used here ({why})", DataWarning, stacklevel=4)
        return None


def _as_labels(y, n, path, arrays, need_normal=True):
    """``y`` as 0/1 int64 labels; ``arrays``: where a table's labels came from (``label_name``,
    ``first_line``, and ``rows``, the file rows kept once missing values were dropped)."""
    y = np.asarray(y)
    if y.ndim == 2 and 1 in y.shape:
        y = y.ravel()  # MATLAB stores label vectors as (n, 1)
    if y.ndim != 1:
        raise DataError(f"{path}: y must be a vector; got shape {y.shape}")
    if len(y) != n:
        raise DataError(f"{path}: y has {len(y)} labels but X has {n} rows")
    if y.dtype.kind not in "biuf":
        raise DataError(f"{path}: labels must be 0 (normal) or 1 (anomaly); got dtype {y.dtype}")
    if y.dtype.kind == "f" and not np.isfinite(y).all():
        unlabeled = np.flatnonzero(~np.isfinite(y))
        if arrays.get("label_name") is None:
            raise DataError(f"{path}: y has {len(unlabeled)} missing or non-finite labels")
        row = int(arrays["rows"][unlabeled[0]]) if "rows" in arrays else int(unlabeled[0])
        raise DataError(f"{path}: {len(unlabeled)} missing or infinite label(s) in column {arrays['label_name']!r}, "
                        f"first at {_row(row, arrays.get('first_line'))}; every row needs a label, 0 (normal) "
                        "or 1 (anomaly): fill them in or drop those rows")
    found = np.unique(y)
    if not np.isin(found, (0, 1)).all():
        shown = ", ".join(repr(v.item()) for v in found[:10])
        raise DataError(f"{path}: labels must be 0 (normal) or 1 (anomaly); found values {shown}")
    y = y.astype(np.int64)
    if need_normal and not (y == 0).any():
        raise DataError(f"{path}: no normal sample (every label is 1); the detectors train on normals")
    return y


def load_dataset(path, label_column=None, *, sep=None, header=None, id_column=None, drop=(),
                 missing="error", decimal=".", thousands=None, encoding="utf-8", unused_labels=False):
    """Load and validate a dataset file.

    Parameters
    ----------
    path : str or Path
        A ``.npz`` or ``.mat`` file with arrays ``X`` (n, d) and ``y`` (n,)
        or (n, 1), or a table: ``.csv``, ``.tsv`` or ``.parquet``.
    label_column : str, optional
        Tables only: the label column (1 = anomaly). Default: ``"label"`` or
        ``"y"`` if present; else a column named like a label (``Label``,
        ``class``, ``target``, ``is_fraud``, ...; see :data:`LABEL_NAMES`),
        taken with a :class:`DataWarning`; otherwise the table is unlabeled.
    sep : str, optional
        CSV/TSV only: field separator (``\\t`` or ``tab`` for a tab); default:
        a tab for ``.tsv``, else guessed among ``, ; tab |``.
    header : bool, optional
        CSV/TSV only: whether the first row names the columns; default: it
        does unless it holds only numbers. Without one, columns are named 0..d-1.
    id_column : str, optional
        Tables only: a column of row ids, kept for the output and never a
        feature. Default: a column named like an id (``id``, ``row_id``,
        ``*_id``, ``CustomerID``, ...) or holding only UUIDs, taken with a
        :class:`DataWarning`.
    drop : sequence of str
        Tables only: columns to ignore.
    missing : {"error", "drop", "mean"}
        Missing feature values (empty, NA, NaN, ?): refuse with their
        count and place, drop their rows, or fill with the column mean.
    decimal : str, default="."
        CSV/TSV only: the decimal mark (``","`` for ``1,5``).
    thousands : str, optional
        CSV/TSV only: the thousands separator (``","`` for ``1,234.5``), as pandas' ``read_csv`` takes it.
    encoding : str, default="utf-8"
        CSV/TSV only: the text encoding (``"cp1252"`` for a file saved by
        Excel on Windows); a UTF-8 byte-order mark is skipped.
    unused_labels : bool, default=False
        The caller does not use the labels (``das score``): labels that are
        not 0/1 or are missing are left out (``y`` None) with a
        :class:`DataWarning`, and labels with no normal sample are kept.

    Returns
    -------
    Dataset

    Raises
    ------
    DataError
        Missing or unreadable file, unknown extension, a column given two
        roles (label, id, dropped), malformed table, missing keys,
        non-numeric or non-finite values, bad labels, fewer than two rows,
        or no normal sample.

    Warns
    -----
    DataWarning
        A guessed label, id or header; constant columns; rows dropped or
        values filled for ``missing``; columns with no name and no value
        (a separator ending every line) dropped.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: {_not_a_file(path)}")
    ext = path.suffix.lower()
    if ext not in EXTENSIONS:
        hint = f" ({_SAVE_AS[ext]})" if ext in _SAVE_AS else ""
        raise DataError(f"{path}: unknown extension {path.suffix!r}; use one of {', '.join(EXTENSIONS)}{hint}")
    if missing not in MISSING:
        raise DataError(f"unknown missing-value policy {missing!r}; choose from {', '.join(MISSING)}")
    sep = _SEP_NAMES.get(sep, sep)
    codec = _codec(encoding)
    check_column_roles(label_column, id_column, drop)
    _check_applies(path, ext in TEXT + PARQUET, "CSV, TSV and Parquet files",
                   {"--label-column": label_column, "--id-column": id_column, "--drop": drop or None})
    _check_applies(path, ext in TEXT, "CSV and TSV files",
                   {"--sep": sep, "--header/--no-header": header, "--decimal": None if decimal == "." else decimal,
                    "--thousands": thousands, "--encoding": None if codec == "utf-8-sig" else encoding})
    if ext in TEXT + PARQUET:
        arrays = _read_table(path, label_column, sep=sep, header=header, id_column=id_column, drop=drop,
                             decimal=decimal, thousands=thousands, codec=codec, unused_labels=unused_labels)
    else:
        arrays = _read_npz(path) if ext == ".npz" else _read_mat(path)
        if "X" not in arrays:
            raise DataError(f"{path}: missing key 'X' (and {'' if 'y' in arrays else 'no '}'y'); "
                            f"found keys {sorted(arrays)}")
        if "y" not in arrays:  # as a table without a label column: scores only
            warnings.warn(f"{path.name}: no key 'y': read as unlabeled (keys found: {sorted(arrays)})",
                          DataWarning, stacklevel=2)
            arrays["y"] = None
    X = _as_features(arrays["X"], path, missing, arrays.get("columns"), arrays.get("first_line"))
    arrays = _handle_missing(dict(arrays, X=X), missing, path)
    X = arrays["X"]
    if len(X) < 2:
        raise DataError(f"{path}: {len(X)} data row(s); a detector needs at least 2 rows to fit")
    _warn_constant(X, arrays.get("columns") or range(X.shape[1]), path)
    if arrays["y"] is None and arrays.get("columns"):
        _warn_label_like(X, arrays["columns"], path)
    y = None if arrays["y"] is None else _labels(
        lambda: _as_labels(arrays["y"], len(X), path, arrays, need_normal=not unused_labels), unused_labels, path)
    return Dataset(name=path.stem, X=X, y=y, source=str(path), ids=arrays.get("ids"),
                   id_name=arrays.get("id_name", "row"), dropped_ids=arrays.get("dropped"))


def check_column_roles(label_column=None, id_column=None, drop=()):
    """Refuse a table column given two roles: the label, the row ids, dropped (a DataError naming them)."""
    roles = {}
    for option, name in [("--label-column", label_column), ("--id-column", id_column), *(("--drop", d) for d in drop)]:
        if name is not None and roles.setdefault(name, option) != option:
            raise DataError(f"{roles[name]} {name} and {option} {name} name the same column: a column is the "
                            "label, the row ids or dropped, not two of these")


def _check_applies(path, applies, files, options):
    """Refuse options given for a file format they do not apply to."""
    given = [k for k, v in options.items() if v is not None]
    if given and not applies:
        raise DataError(f"{path}: {', '.join(given)} appl{'ies' if len(given) == 1 else 'y'} to {files} only")


# ---------------------------------------------------------------- names
def _data_dir(data_dir):
    data_dir = data_dir or os.environ.get("DAS_DATA_DIR")
    return Path(data_dir) if data_dir else None


def list_datasets(data_dir=None):
    """Dataset files (``.npz``/``.mat``/``.csv``/``.tsv``/``.parquet``) in ``data_dir``, sorted by name.

    ``data_dir`` defaults to ``$DAS_DATA_DIR``. Raises :class:`DataError` when
    no directory is given or it does not exist.
    """
    root = _data_dir(data_dir)
    if root is None:
        raise DataError("no data directory: pass --data-dir or set DAS_DATA_DIR")
    if not root.is_dir():
        raise DataError(f"data directory {root} does not exist")
    files = [p for p in root.iterdir() if p.is_file() and p.suffix.lower() in EXTENSIONS]
    return sorted(files, key=lambda p: (p.stem.lower(), p.suffix))


def _not_a_file(path):
    """Why ``path`` cannot be read as a data file."""
    if path.is_dir():
        return "is a directory, not a data file"
    return "is not a regular file (a device, a FIFO or a socket)" if path.exists() else "no such file"


def resolve_dataset(name_or_path, data_dir=None):
    """Turn a path or a bare dataset name into a file path.

    An existing path is returned as is, then a file name in the data
    directory (``cust.tsv``). Otherwise the name is looked up in
    ``data_dir`` (default ``$DAS_DATA_DIR``) as ``name`` with each of
    :data:`EXTENSIONS`, then case-insensitively among the directory's files.

    Raises
    ------
    DataError
        Not found (the message lists the data directory and what is in it),
        ambiguous, or no data directory set.
    """
    path = Path(name_or_path)
    if path.is_file():
        return path
    root = _data_dir(data_dir)
    if root is not None and len(path.parts) == 1 and (root / path).is_file():  # a file name in the data dir
        return root / path
    looks_like_path = path.suffix.lower() in EXTENSIONS or len(path.parts) > 1
    if looks_like_path or root is None or path.is_dir():
        hint = "" if looks_like_path or path.is_dir() else \
            " and no data directory is set (pass --data-dir or set DAS_DATA_DIR)"
        raise DataError(f"{name_or_path}: {_not_a_file(path)}{hint}")
    for ext in EXTENSIONS:
        if (root / f"{name_or_path}{ext}").is_file():
            return root / f"{name_or_path}{ext}"
    files = list_datasets(root)
    matches = [p for p in files if p.stem.lower() == str(name_or_path).lower()]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise DataError(f"{name_or_path}: ambiguous in {root}: {', '.join(p.name for p in matches)}")
    names = ", ".join(p.stem for p in files) or "none"
    raise DataError(f"{name_or_path}: no dataset of that name in {root} (available: {names})")


# ---------------------------------------------------------------- split
def _make_scaler(scale):
    from sklearn.preprocessing import MinMaxScaler, StandardScaler

    # Both scalers map a zero-variance (or zero-range) column to a scale of 1,
    # so constant features stay finite instead of dividing by zero.
    return {"standard": StandardScaler, "minmax": MinMaxScaler}[scale]()


def _scaled_in_place(scaler, X):
    """``scaler.transform(X)`` written into ``X`` (a copy the split owns): no second array of its size."""
    scaler.set_params(copy=False)
    try:
        return scaler.transform(X)
    finally:
        scaler.set_params(copy=True)


def split_dataset(ds, scale="standard", require_anomaly=True):
    """Split a dataset by the papers' protocol.

    The normal samples are taken in file order; the first ``n_normal // 2``
    (floor) are the training set; the test set is the remaining normals plus
    all anomalies, kept in file order. A scaler is fitted on the training
    set only and applied to both.

    Parameters
    ----------
    ds : Dataset
    scale : {"standard", "minmax", None}, default="standard"
    require_anomaly : bool, default=True
        Refuse data without any anomaly: unlabeled, or no label 1 (nothing
        to evaluate). When False, unlabeled data (``ds.y is None``) is split
        as if all rows were normal, with ``y_test = None``.

    Returns
    -------
    Split

    Raises
    ------
    DataError
        Unknown scale, fewer than two normal samples, or no labels or no
        anomaly when ``require_anomaly``.
    """
    if scale not in SCALES:
        raise DataError(f"unknown scale {scale!r}; choose from {SCALES}")
    X = np.asarray(ds.X, dtype=np.float64)  # a Dataset built by hand may hold ints
    n = len(X)
    y = np.zeros(n, dtype=np.int64) if ds.y is None else np.asarray(ds.y).ravel().astype(np.int64)
    if require_anomaly and ds.y is None:
        raise DataError(f"{ds.name}: no labels, so there is nothing to evaluate (a table needs a label "
                        "column, an .npz/.mat file a key 'y')")
    if require_anomaly and not y.any():
        raise DataError(f"{ds.name}: no anomaly (no label 1), so there is nothing to evaluate")
    normal = np.flatnonzero(y == 0)
    if len(normal) < 2:
        raise DataError(f"{ds.name}: {len(normal)} normal sample(s); the split needs at least 2")
    train_index = normal[: len(normal) // 2]
    is_test = np.ones(n, dtype=bool)
    is_test[train_index] = False
    test_index = np.flatnonzero(is_test)  # flatnonzero keeps file order
    X_train, X_test = X[train_index], X[test_index]
    scaler = None
    if scale is not None:
        scaler = _make_scaler(scale).fit(X_train)
        X_train, X_test = _scaled_in_place(scaler, X_train), _scaled_in_place(scaler, X_test)
    return Split(name=ds.name, X_train=np.ascontiguousarray(X_train, dtype=np.float64),
                 X_test=np.ascontiguousarray(X_test, dtype=np.float64),
                 y_test=None if ds.y is None else y[test_index],
                 fingerprint=fingerprint(X, ds.y), scaler=scaler,
                 train_index=train_index, test_index=test_index)


def dataset_info(name_or_path, data_dir=None, label_column=None, **read):
    """Summary of a dataset and of its split, as a JSON-ready dict; ``read`` goes to :func:`load_dataset`."""
    ds = load_dataset(resolve_dataset(name_or_path, data_dir), label_column=label_column, **read)
    split = split_dataset(ds, scale=None, require_anomaly=False)
    n, d = ds.X.shape
    labeled = ds.y is not None
    return {
        "name": ds.name, "source": ds.source, "n": n, "d": d, "labeled": labeled,
        "anomalies": ds.n_anomalies if labeled else None,
        "anomaly_rate": ds.n_anomalies / n if labeled else None,
        "n_train": len(split.X_train), "n_test": len(split.X_test),
        "test_anomalies": int(split.y_test.sum()) if labeled else None,
        "fingerprint": split.fingerprint,
        # constant columns carry no information and are where scalers and PCA trip
        "constant_columns": int(np.sum(np.ptp(ds.X, axis=0) == 0)),
        "constant_columns_train": int(np.sum(np.ptp(split.X_train, axis=0) == 0)),
    }
