"""Datasets, validation messages, the split protocol, fingerprints and metrics."""
import os
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from das.collab.data import (DataError, Dataset, DataWarning, fingerprint, list_datasets, load_dataset,
                         resolve_dataset, split_dataset)
from das.collab.metrics import MetricError, auc_pr, auc_roc


def _npz(tmp_path, name="d.npz", **arrays):
    path = tmp_path / name
    np.savez(path, **arrays)
    return path


def _csv(tmp_path, text, name="d.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def _ds(X, y, name="toy"):
    return Dataset(name=name, X=np.asarray(X, dtype=np.float64), y=None if y is None else np.asarray(y),
                   source="test")


# ------------------------------------------------------------------ shared data
def test_every_shared_dataset_loads_and_splits(odds_dir):
    files = list_datasets(odds_dir)
    assert len(files) == 34
    for path in files:
        ds = load_dataset(path)
        assert ds.X.dtype == np.float64 and ds.X.ndim == 2 and ds.y.dtype == np.int64
        assert ds.y.shape == (len(ds.X),) and 0 < ds.n_anomalies < len(ds.X)
        split = split_dataset(ds)
        n_normal = len(ds.X) - ds.n_anomalies
        assert len(split.X_train) == n_normal // 2
        assert len(split.X_test) == len(ds.X) - n_normal // 2
        assert split.y_test.sum() == ds.n_anomalies
        assert np.isfinite(split.X_train).all() and np.isfinite(split.X_test).all(), path.name


def test_mat_labels_of_shape_n_by_1_are_raveled(odds_dir):
    ds = load_dataset(odds_dir / "glass.mat")
    assert ds.X.shape == (214, 9) and ds.y.shape == (214,) and ds.n_anomalies == 9


# ------------------------------------------------------------------ split protocol
def test_split_takes_first_half_of_normals_in_file_order():
    #            0  1  2  3  4  5  6  7
    y = np.array([0, 1, 0, 0, 1, 0, 0, 0])
    X = np.arange(16, dtype=float).reshape(8, 2)
    split = split_dataset(_ds(X, y), scale=None)
    np.testing.assert_array_equal(split.train_index, [0, 2, 3])
    np.testing.assert_array_equal(split.test_index, [1, 4, 5, 6, 7])
    np.testing.assert_array_equal(split.X_train, X[[0, 2, 3]])
    np.testing.assert_array_equal(split.X_test, X[[1, 4, 5, 6, 7]])
    np.testing.assert_array_equal(split.y_test, [1, 1, 0, 0, 0])


@pytest.mark.parametrize("scale", ["standard", "minmax"])
def test_split_scales_its_own_copies_and_leaves_the_data_and_later_inputs_alone(scale):
    from sklearn.preprocessing import MinMaxScaler, StandardScaler

    rng = np.random.default_rng(0)
    X, y = rng.normal(3.0, 2.0, size=(40, 3)), np.r_[np.zeros(36, dtype=int), np.ones(4, dtype=int)]
    before = X.copy()
    split = split_dataset(_ds(X, y), scale=scale)
    np.testing.assert_array_equal(X, before)
    reference = {"standard": StandardScaler, "minmax": MinMaxScaler}[scale]().fit(X[split.train_index])
    np.testing.assert_allclose(split.X_train, reference.transform(X[split.train_index]))
    np.testing.assert_allclose(split.X_test, reference.transform(X[split.test_index]))
    Z = X[:5].copy()
    split.scaler.transform(Z)
    np.testing.assert_array_equal(Z, X[:5])  # the scaler handed out copies again


def test_split_with_odd_number_of_normals_floors_the_train_half():
    y = np.array([1, 0, 0, 0, 0, 0])  # five normals -> two train, three test
    split = split_dataset(_ds(np.ones((6, 1)) * np.arange(6)[:, None], y), scale=None)
    np.testing.assert_array_equal(split.train_index, [1, 2])
    np.testing.assert_array_equal(split.test_index, [0, 3, 4, 5])


def test_standard_scaling_is_fitted_on_train_only(rng):
    X = rng.normal(5.0, 3.0, size=(40, 3))
    y = np.r_[np.zeros(30, int), np.ones(10, int)]
    X[30:] += 100.0  # anomalies far away: they must not move the scaler
    split = split_dataset(_ds(X, y))
    train = X[:15]
    np.testing.assert_allclose(split.scaler.mean_, train.mean(axis=0))
    np.testing.assert_allclose(split.X_train.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(split.X_train.std(axis=0), 1.0)
    np.testing.assert_allclose(split.X_test, (X[15:] - train.mean(axis=0)) / train.std(axis=0))


def test_minmax_scaling_maps_train_to_unit_box(rng):
    X = rng.uniform(-4, 9, size=(20, 2))
    split = split_dataset(_ds(X, np.r_[np.zeros(18, int), [1, 1]]), scale="minmax")
    assert split.X_train.min() == pytest.approx(0.0) and split.X_train.max() == pytest.approx(1.0)
    lo, hi = X[:9].min(axis=0), X[:9].max(axis=0)
    np.testing.assert_allclose(split.X_test, (X[9:] - lo) / (hi - lo))


@pytest.mark.parametrize("scale", ["standard", "minmax"])
def test_constant_columns_are_scaled_without_nan(scale):
    X = np.c_[np.full(10, 7.0), np.arange(10.0)]
    X[9, 0] = 8.0  # the column is constant on train, not on test
    split = split_dataset(_ds(X, [0] * 9 + [1]), scale=scale)
    assert np.isfinite(split.X_train).all() and np.isfinite(split.X_test).all()
    np.testing.assert_array_equal(split.X_train[:, 0], 0.0)


def test_split_errors():
    X = np.zeros((4, 2))
    with pytest.raises(DataError, match="toy: no anomaly"):
        split_dataset(_ds(X, [0, 0, 0, 0]))
    assert len(split_dataset(_ds(X, [0, 0, 0, 0]), require_anomaly=False).X_test) == 2
    with pytest.raises(DataError, match="toy: 1 normal sample"):
        split_dataset(_ds(X, [0, 1, 1, 1]))
    with pytest.raises(DataError, match="unknown scale 'zscore'"):
        split_dataset(_ds(X, [0, 0, 1, 0]), scale="zscore")


def test_unlabeled_split_has_no_test_labels_and_nothing_to_evaluate():
    split = split_dataset(_ds(np.arange(10.0).reshape(5, 2), None), require_anomaly=False)
    assert split.y_test is None and len(split.X_train) == 2 and len(split.X_test) == 3
    with pytest.raises(DataError, match="no labels, so there is nothing to evaluate"):
        split_dataset(_ds(np.arange(10.0).reshape(5, 2), None))


# ------------------------------------------------------------------ fingerprint
def test_fingerprint_is_stable_and_canonical(tmp_path):
    X = np.arange(12).reshape(4, 3)
    y = np.array([0, 0, 1, 0], dtype=np.int32)
    fp = fingerprint(X.astype(float), y.astype(np.int64))
    assert fp == fingerprint(X, y) == fingerprint(np.asfortranarray(X.astype(float)), y.reshape(-1, 1))
    assert len(fp) == 64 and int(fp, 16) >= 0
    npz = load_dataset(_npz(tmp_path, X=X, y=y))
    csv = load_dataset(_csv(tmp_path, "a,b,c,label\n" + "".join(f"{r[0]},{r[1]},{r[2]},{v}\n"
                                                                  for r, v in zip(X, y))))
    assert split_dataset(npz).fingerprint == split_dataset(csv).fingerprint == fp


def test_fingerprint_changes_with_any_value_order_or_label():
    X = np.arange(12, dtype=float).reshape(4, 3)
    y = np.array([0, 0, 1, 0])
    fp = fingerprint(X, y)
    X2 = X.copy()
    X2[2, 1] += 1e-12
    assert fingerprint(X2, y) != fp
    assert fingerprint(X[::-1], y[::-1]) != fp
    assert fingerprint(X, np.array([0, 1, 0, 0])) != fp
    assert fingerprint(X.reshape(3, 4), y) != fp
    assert fingerprint(X) != fp


# ------------------------------------------------------------------ bad files
@pytest.mark.parametrize("arrays, message", [
    ({"data": np.ones((3, 2)), "label": np.zeros(3)}, r"missing key 'X' \(and no 'y'\); found keys \['data', 'label'\]"),
    ({"y": np.zeros(3)}, r"missing key 'X' \(and 'y'\); found keys \['y'\]"),
    ({"X": np.ones(3), "y": np.zeros(3)}, r"X must be 2-D \(n_samples, n_features\); got shape \(3,\)"),
    ({"X": np.ones((2, 2, 2)), "y": np.zeros(2)}, r"X must be 2-D .* got shape \(2, 2, 2\)"),
    ({"X": np.array([["a", "b"], ["c", "d"]]), "y": np.zeros(2)}, "X must be numeric; got dtype <U1"),
    ({"X": np.ones((0, 3)), "y": np.zeros(0)}, r"empty dataset \(X has shape \(0, 3\)\)"),
    ({"X": np.ones((4, 2)), "y": np.zeros(3)}, "y has 3 labels but X has 4 rows"),
    ({"X": np.ones((3, 2)), "y": np.array([0, 1, 2])}, "labels must be 0 .* found values 0, 1, 2"),
    ({"X": np.ones((3, 2)), "y": np.array([-1, 1, 1])}, "found values -1, 1"),
    ({"X": np.ones((3, 2)), "y": np.ones(3)}, "no normal sample"),
    ({"X": np.ones((3, 2)), "y": np.zeros((3, 2))}, r"y must be a vector; got shape \(3, 2\)"),
])
def test_bad_npz_files_name_the_problem(tmp_path, arrays, message):
    with pytest.raises(DataError, match=message):
        load_dataset(_npz(tmp_path, **arrays))


def test_an_npz_without_y_is_read_as_unlabeled_with_a_warning(tmp_path):
    with pytest.warns(DataWarning, match=r"no key 'y': read as unlabeled \(keys found: \['X'\]\)"):
        ds = load_dataset(_npz(tmp_path, X=np.arange(8.0).reshape(4, 2)))
    assert ds.y is None and ds.X.shape == (4, 2)


def test_nan_and_inf_are_counted_and_located(tmp_path):
    X = np.ones((5, 3))
    X[1, 2] = np.nan
    X[3, 0] = np.nan
    X[4, 1] = np.inf
    with pytest.raises(DataError, match=r"2 missing value\(s\) and 1 infinite value\(s\), first at \(row 1, "
                                        r"column 2\), \(row 3, column 0\), \(row 4, column 1\); pass --missing drop "
                                        r".*; fix or drop the rows with infinite values \(--missing handles only "
                                        r"missing values\)"):
        load_dataset(_npz(tmp_path, X=X, y=np.zeros(5)))


def test_missing_file_and_unknown_extension(tmp_path):
    with pytest.raises(DataError, match="nope.npz: no such file"):
        load_dataset(tmp_path / "nope.npz")
    os.mkfifo(tmp_path / "pipe.csv")  # walkthrough 5: a device or FIFO was "no such file"
    for call in (load_dataset, resolve_dataset):
        with pytest.raises(DataError, match="pipe.csv: is not a regular file"):
            call(tmp_path / "pipe.csv")
    bad = tmp_path / "data.xlsx"
    bad.write_text("x")
    with pytest.raises(DataError, match=r"unknown extension '.xlsx'; use one of .npz, .mat, .csv.* \(a spreadsheet: "
                                        r"save it as CSV\)"):
        load_dataset(bad)
    (tmp_path / "data.txt").write_text("a,label\n1,0\n")
    with pytest.raises(DataError, match=r"unknown extension '.txt'.* \(a delimited text file\? rename it .csv"):
        load_dataset(tmp_path / "data.txt")


def test_corrupt_files(tmp_path):
    (tmp_path / "a.npz").write_text("not a zip")
    with pytest.raises(DataError, match="not a readable .npz file"):
        load_dataset(tmp_path / "a.npz")
    (tmp_path / "a.mat").write_bytes(b"garbage")
    with pytest.raises(DataError, match="not a readable .mat file"):
        load_dataset(tmp_path / "a.mat")
    np.savez(tmp_path / "o.npz", X=np.array([{"a": 1}], dtype=object), y=np.zeros(1))
    with pytest.raises(DataError, match="cannot read .npz without pickle"):
        load_dataset(tmp_path / "o.npz")


def test_mat_v73_gives_a_clear_error(tmp_path):
    # A MATLAB v7.3 header: 116 text bytes, 8 subsystem bytes, version 0x0200, endian "IM".
    header = b"MATLAB 7.3 MAT-file, Platform: GLNXA64".ljust(116, b" ") + b"\0" * 8 + b"\x00\x02IM"
    path = tmp_path / "big.mat"
    path.write_bytes(header + b"\0" * 512)
    try:
        import h5py  # noqa: F401
        message = r"not a readable MATLAB v7.3 \(HDF5\) file"  # the header is real, the HDF5 body is not
    except ImportError:
        message = r"MATLAB v7.3 \(HDF5\) file; install h5py to read it"
    with pytest.raises(DataError, match=message):
        load_dataset(path)


def test_mat_files_load(tmp_path):
    import scipy.io

    scipy.io.savemat(tmp_path / "m.mat", {"X": np.arange(8.0).reshape(4, 2), "y": np.array([[0], [0], [1], [0]])})
    ds = load_dataset(tmp_path / "m.mat")
    assert ds.name == "m" and ds.y.tolist() == [0, 0, 1, 0] and ds.X.shape == (4, 2)


# ------------------------------------------------------------------ CSV
def test_csv_label_column_default_explicit_and_unlabeled(tmp_path):
    ds = load_dataset(_csv(tmp_path, "a,b,label\n1,2,0\n3,4,1\n5,6,0\n"))
    assert ds.X.tolist() == [[1, 2], [3, 4], [5, 6]] and ds.y.tolist() == [0, 1, 0]
    ds = load_dataset(_csv(tmp_path, "y,a\n0,1.5\n1,2.5\n", name="e.csv"))
    assert ds.X.tolist() == [[1.5], [2.5]] and ds.y.tolist() == [0, 1]
    ds = load_dataset(_csv(tmp_path, "a,outlier\n1,0\n2,1.0\n", name="f.csv"), label_column="outlier")
    assert ds.y.tolist() == [0, 1] and ds.X.shape == (2, 1)
    ds = load_dataset(_csv(tmp_path, "a,b\n1,2\n3,4\n", name="g.csv"))
    assert ds.y is None and ds.n_anomalies == 0 and ds.X.shape == (2, 2)


@pytest.mark.parametrize("text, kwargs, message", [
    ("a,b\n1,2\n", {"label_column": "cls"}, r"label column 'cls' not found; columns are \['a', 'b'\]"),
    ("a,label\n1,0\nfoo,1\n", {}, r"non-numeric value 'foo' at line 3, column 'a' \(text\? --drop the column, "
                                    r"or name it with --id-column\)"),
    ("a,b,label\n1,2,0\n3,4,5,0\n", {}, "line 3 has 4 fields, the header has 3"),
    ("a,label\n1,0\n,0\ninf,1\n", {}, r"1 missing value\(s\) and 1 infinite value\(s\), first at \(line 3, "
                                      r"column 'a'\), \(line 4, column 'a'\)"),
    ("a,label\n1,0\n2,0\ninf,1\n", {"missing": "drop"}, r"1 infinite value\(s\), first at \(line 4, column 'a'\); "
                                                       r"fix or drop the rows with infinite values \(--missing handles "
                                                       r"only missing values\)$"),
    ("", {}, "empty file"),
    ("a,label\n", {}, r"a header but no data rows$"),  # walkthrough 3, L9: was "empty dataset (X has shape ...)"
    ("a,label\n1,0\n2,yes\n", {}, r"non-numeric value 'yes' at line 3, column 'label'; labels must be 0 \(normal\) "
                                  r"or 1 \(anomaly\)"),
    ("a,label\n1,0\n2,\n", {}, r"1 missing or infinite label\(s\) in column 'label', first at line 3; every row "
                                r"needs a label"),
    ("a,label\n,0\n1,0\n2,0\n3,\n", {"missing": "mean"}, r"column 'label', first at line 5;"),
    ("a,label\n1,0\n2,0.5\n", {}, "found values 0.0, 0.5"),
])
def test_bad_csv_files(tmp_path, text, kwargs, message):
    with pytest.raises(DataError, match=message):
        load_dataset(_csv(tmp_path, text), **kwargs)


def test_label_column_is_for_csv_only(tmp_path):
    with pytest.raises(DataError, match="applies to CSV, TSV and Parquet files only"):
        load_dataset(_npz(tmp_path, X=np.ones((2, 1)), y=np.zeros(2)), label_column="y")


# ------------------------------------------------------------------ names
def test_resolve_dataset(tmp_path, monkeypatch):
    path = _npz(tmp_path, "Cardio.npz", X=np.ones((2, 1)), y=np.zeros(2))
    _csv(tmp_path, "a\n1\n", name="other.csv")
    assert resolve_dataset(path) == path
    assert resolve_dataset("Cardio", data_dir=tmp_path) == path
    assert resolve_dataset("cardio", data_dir=tmp_path) == path  # case-insensitive fallback
    monkeypatch.setenv("DAS_DATA_DIR", str(tmp_path))
    assert resolve_dataset("other") == tmp_path / "other.csv"
    assert resolve_dataset("other.csv") == tmp_path / "other.csv"  # a file name in the data dir
    with pytest.raises(DataError, match=rf"zzz: no dataset of that name in {tmp_path} \(available: Cardio, other\)"):
        resolve_dataset("zzz")
    with pytest.raises(DataError, match="missing.npz: no such file$"):
        resolve_dataset("missing.npz")
    monkeypatch.delenv("DAS_DATA_DIR")
    with pytest.raises(DataError, match="zzz: no such file and no data directory is set"):
        resolve_dataset("zzz")
    with pytest.raises(DataError, match="no data directory: pass --data-dir or set DAS_DATA_DIR"):
        list_datasets()
    with pytest.raises(DataError, match="does not exist"):
        list_datasets(tmp_path / "absent")
    assert [p.name for p in list_datasets(tmp_path)] == ["Cardio.npz", "other.csv"]


# ------------------------------------------------------------------ metrics
def test_metrics_match_hand_computed_values():
    y = [0, 0, 1, 1]
    s = [0.1, 0.4, 0.35, 0.8]
    # ROC: of the 4 (anomaly, normal) pairs only (0.35, 0.4) is misordered -> 3/4.
    assert auc_roc(y, s) == pytest.approx(0.75)
    # Ranked: 0.8 (1), 0.4 (0), 0.35 (1): precision 1 at recall 1/2, 2/3 at recall 1.
    assert auc_pr(y, s) == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)
    assert auc_roc([0, 1, 0, 1], [1, 1, 1, 1]) == pytest.approx(0.5)  # ties count one half
    assert auc_pr([0, 1], [0.0, 1.0]) == auc_roc([0, 1], [0.0, 1.0]) == 1.0


@given(st.lists(st.tuples(st.integers(0, 1), st.sampled_from([0.0, 0.5, 1.0, -2.0, 3.25, 1e-9, 7.0])),
                min_size=2, max_size=60),
       st.integers(0, 2**32 - 1))
@settings(deadline=None)  # the first example imports scikit-learn's metrics
def test_auc_pr_is_scikit_learns_average_precision_to_the_bit(pairs, seed):
    """Ties included: auc_pr repeats average_precision_score's computation without its validation."""
    from sklearn.metrics import average_precision_score

    y = np.array([p[0] for p in pairs] + [0, 1])
    s = np.array([p[1] for p in pairs] + [0.5, 0.5]) + np.random.default_rng(seed).normal(size=len(y)) * (seed % 2)
    assert auc_pr(y, s) == float(average_precision_score(y, s))


@given(st.lists(st.tuples(st.integers(0, 1), st.sampled_from([0.0, 0.5, 1.0, -2.0, 3.25, 1e-9, 7.0])),
                min_size=2, max_size=60),
       st.integers(0, 2**32 - 1))
@settings(deadline=None)
def test_auc_roc_is_scikit_learns_roc_auc_to_rounding(pairs, seed):
    from sklearn.metrics import roc_auc_score

    y = np.array([p[0] for p in pairs] + [0, 1])
    s = np.array([p[1] for p in pairs] + [0.5, 0.5]) + np.random.default_rng(seed).normal(size=len(y)) * (seed % 2)
    assert auc_roc(y, s) == pytest.approx(float(roc_auc_score(y, s)), abs=1e-12)


@pytest.mark.parametrize("y, s, message", [
    ([], [], r"single class \(empty\)"),
    ([0, 0, 0], [1, 2, 3], r"single class \(0\)"),
    ([1, 1], [1, 2], r"single class \(1\)"),
    ([0, 1], [1, 2, 3], "2 labels but scores has 3"),
    ([0, 2], [1, 2], "labels must be 0"),
    ([0, 1], [np.nan, 1], "1 non-finite"),
])
def test_metric_errors(y, s, message):
    for metric in (auc_pr, auc_roc):
        with pytest.raises(MetricError, match=message):
            metric(y, s)


@pytest.mark.parametrize("scores", [["0.1", "high"], [10**400, 1], [[1.0], [1.0, 2.0]], {"a": 1}, {1.0, 2.0},
                                    np.array([5 + 0j, 1 + 9j])])
def test_scores_that_are_not_real_numbers_are_a_metric_error(scores):
    """Red team round 6, F7: these raised ValueError, OverflowError or TypeError, or (complex)
    dropped their imaginary part with only a warning."""
    for metric in (auc_pr, auc_roc):
        with pytest.raises(MetricError, match="must be real numbers|must be 1-D"):
            metric([0, 1], scores)


def test_integer_scores_are_ranked_as_integers():
    """Red team round 6, F6: int64 scores above 2**53 (nanosecond timestamps) tied once cast to float64."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    y = np.array([0, 1, 0, 1])
    for s in (2**53 + np.arange(4), np.array([1_700_000_000_000_000_000 + i for i in (0, 1, 2, 3)]),
              np.array([2**64 - 4, 2**64 - 3, 2**64 - 2, 2**64 - 1], dtype=np.uint64)):
        assert auc_pr(y, s) == average_precision_score(y, s)
        assert auc_roc(y, s) == pytest.approx(roc_auc_score(y, s))
    assert auc_pr(np.array([0, 1], dtype=object), [0.1, 0.2]) == 1.0  # 0/1 labels held as objects


# ------------------------------------------------------------------ CSV a user actually has
def test_semicolon_file_is_read_and_a_bad_cell_is_quoted_short(tmp_path):
    ds = load_dataset(_csv(tmp_path, "a;b;label\n1,5;2;0\n3;4;1\n".replace("1,5", "1.5")))
    assert ds.X.tolist() == [[1.5, 2], [3, 4]] and ds.y.tolist() == [0, 1]
    long_cell = "x" * 500
    with pytest.raises(DataError) as err:
        load_dataset(_csv(tmp_path, f"a;b\n1;2\n3;{long_cell}\n", name="long.csv"))
    assert len(str(err.value).split(": ", 1)[1]) < 160 and "[...]" in str(err.value)  # the path aside
    ds = load_dataset(_csv(tmp_path, "a|b\n1|2\n3|4\n", name="pipe.csv"), sep="|")
    assert ds.X.shape == (2, 2)


def test_headerless_file_keeps_its_first_row(tmp_path):
    with pytest.warns(DataWarning, match="first row holds only numbers"):
        ds = load_dataset(_csv(tmp_path, "1,2,0\n3,4,1\n5,6,0\n"))
    assert ds.X.shape == (3, 3) and ds.y is None
    ds = load_dataset(_csv(tmp_path, "1,2,0\n3,4,1\n5,6,0\n", name="h.csv"), header=False, label_column="2")
    assert ds.X.tolist() == [[1, 2], [3, 4], [5, 6]] and ds.y.tolist() == [0, 1, 0]


@pytest.mark.parametrize("label", ["Label", "is_fraud", "class", "Target"])
def test_label_like_column_is_the_label_with_a_warning_never_a_feature(tmp_path, label):
    with pytest.warns(DataWarning, match=f"column '{label}' taken as the label"):
        ds = load_dataset(_csv(tmp_path, f"a,{label},b\n1,0,2\n3,1,4\n5,0,6\n"))
    assert ds.X.tolist() == [[1, 2], [3, 4], [5, 6]] and ds.y.tolist() == [0, 1, 0]


def test_id_column_is_kept_as_ids_not_a_feature(tmp_path):
    with pytest.warns(DataWarning, match="column 'row_id' taken as the id"):
        ds = load_dataset(_csv(tmp_path, "row_id,a,b\n17,1,2\n42,3,4\n"))
    assert ds.X.tolist() == [[1, 2], [3, 4]] and ds.ids.tolist() == ["17", "42"] and ds.id_name == "row_id"
    ds = load_dataset(_csv(tmp_path, "name,a,b,junk\ncat,1,2,9\ndog,3,4,9\n", name="n.csv"),
                      id_column="name", drop=["junk"])
    assert ds.X.tolist() == [[1, 2], [3, 4]] and ds.ids.tolist() == ["cat", "dog"]
    plain = load_dataset(_csv(tmp_path, "a,b\n1,2\n3,4\n", name="p.csv"))
    assert plain.ids is None and plain.row_ids().tolist() == [0, 1] and plain.id_name == "row"


def test_several_label_like_columns_or_a_missing_drop_are_errors(tmp_path):
    with pytest.raises(DataError, match="several columns look like the label .*pass --label-column"):
        load_dataset(_csv(tmp_path, "a,class,target\n1,0,1\n"))
    with pytest.raises(DataError, match=r"column 'zz' not found; columns are \['a', 'b'\]"):
        load_dataset(_csv(tmp_path, "a,b\n1,2\n", name="z.csv"), drop=["zz"])
    with pytest.raises(DataError, match="--sep applies to CSV and TSV files only"):
        load_dataset(_npz(tmp_path, X=np.ones((2, 1)), y=np.zeros(2)), sep=";")


def test_missing_values_error_by_default_else_drop_or_mean(tmp_path):
    path = _csv(tmp_path, "id,a,b,label\nr1,1,,0\nr2,3,4,1\nr3,NA,8,0\nr4,5,6,0\n")
    with pytest.raises(DataError, match=r"2 missing value.s., first at .* pass --missing drop .* or --missing mean"):
        load_dataset(path)
    with pytest.warns(DataWarning, match="2 row.s. with missing values dropped"):
        ds = load_dataset(path, missing="drop")
    assert ds.ids.tolist() == ["r2", "r4"] and ds.y.tolist() == [1, 0]
    with pytest.warns(DataWarning, match="2 missing value.s. filled"):
        ds = load_dataset(path, missing="mean")
    assert ds.X[:, 0].tolist() == [1, 3, 3, 5] and ds.X[:, 1].tolist() == [6, 4, 8, 6]
    with pytest.raises(DataError, match="unknown missing-value policy 'zero'"):
        load_dataset(path, missing="zero")


def test_constant_columns_are_warned(tmp_path):
    with pytest.warns(DataWarning, match=r"1 constant column\(s\) \(b\)"):
        load_dataset(_csv(tmp_path, "a,b\n1,7\n2,7\n"))
    with pytest.warns(DataWarning, match="every feature column is constant"):
        load_dataset(_csv(tmp_path, "a,b\n1,7\n1,7\n", name="c.csv"))


def test_a_directory_given_as_data_says_so(tmp_path, monkeypatch):
    with pytest.raises(DataError, match="is a directory, not a data file"):
        load_dataset(tmp_path)
    with pytest.raises(DataError, match="is a directory, not a data file"):
        resolve_dataset(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DAS_DATA_DIR", raising=False)
    with pytest.raises(DataError, match=r"^\.: is a directory, not a data file$"):  # walkthrough 3, L9: one message
        resolve_dataset(".")


@pytest.mark.parametrize("cell, sign", [("33.6%", "%"), ("$1,880.00", "$"), ("-12,5 €", "€")])
def test_a_percent_or_currency_cell_is_named_a_formatted_number(tmp_path, cell, sign):
    """Walkthrough 3, L10: '33.6%' and '$1,880.00' got "text? --drop the column"."""
    with pytest.raises(DataError, match=rf"\(a[n]? [a-z ]+\? das reads plain numbers: save the column without the "
                                        rf"'\{sign}' sign"):
        load_dataset(_csv(tmp_path, f'a;b\n1;"{cell}"\n2;3\n'))


# ------------------------------------------------------------------ tables as users have them (pandas)
def test_tsv_is_tab_separated_by_default_and_a_typed_tab_is_a_tab(tmp_path):
    ds = load_dataset(_csv(tmp_path, "a\tb\tlabel\n1.5\t2\t0\n3\t4\t1\n", name="t.tsv"))
    assert ds.X.tolist() == [[1.5, 2], [3, 4]] and ds.y.tolist() == [0, 1]
    ds = load_dataset(_csv(tmp_path, "a\tb\n1\t2\n3\t4\n", name="t.csv"), sep="\\t")
    assert ds.X.tolist() == [[1, 2], [3, 4]]


def test_parquet_is_read_with_the_same_rules(tmp_path):
    import pandas as pd

    path = tmp_path / "p.parquet"
    pd.DataFrame({"CustomerID": ["c1", "c2", "c3"], "a": [1.0, 2.0, 3.0], "b": [4, 5, 6],
                  "is_fraud": [0, 1, 0]}).to_parquet(path)
    with pytest.warns(DataWarning, match="'CustomerID' taken as the id"):
        ds = load_dataset(path)
    assert ds.X.tolist() == [[1, 4], [2, 5], [3, 6]] and ds.y.tolist() == [0, 1, 0]
    assert ds.ids.tolist() == ["c1", "c2", "c3"] and ds.id_name == "CustomerID"
    with pytest.raises(DataError, match="--sep applies to CSV and TSV files only"):
        load_dataset(path, sep=";")
    (tmp_path / "bad.parquet").write_bytes(b"PAR1 not really")
    with pytest.raises(DataError, match="not a readable Parquet file"):
        load_dataset(tmp_path / "bad.parquet")


def test_decimal_commas_and_quoted_fields(tmp_path):
    ds = load_dataset(_csv(tmp_path, "a;b;label\n1,5;2,25;0\n3;-4,5;1\n"), decimal=",")
    assert ds.X.tolist() == [[1.5, 2.25], [3, -4.5]] and ds.y.tolist() == [0, 1]
    quoted = 'name,a,b\n"Smith, J.",1,"2.5"\n"say ""hi""\n",3,4\n'
    ds = load_dataset(_csv(tmp_path, quoted, name="q.csv"), id_column="name")
    assert ds.X.tolist() == [[1, 2.5], [3, 4]] and ds.ids.tolist() == ["Smith, J.", 'say "hi"']
    with pytest.raises(DataError, match="non-numeric value '1,5' at line 2, column 'a'"):
        load_dataset(_csv(tmp_path, "a\tb\n1,5\t2\n3\t4\n", name="c.tsv"))
    with pytest.raises(DataError, match="non-numeric value 'x' at line 3, column 'a'"):  # not '1,5'
        load_dataset(_csv(tmp_path, "a;b\n1,5;2\nx;4\n", name="x.csv"), decimal=",")


@pytest.mark.parametrize("name", ["CustomerID", "customerId", "Customer ID", "account_id", "UUID"])
def test_id_columns_named_like_keys_are_never_features(tmp_path, name):
    with pytest.warns(DataWarning, match=f"column '{name}' taken as the id"):
        ds = load_dataset(_csv(tmp_path, f"{name},a,b\n17,1,2\n42,3,4\n"))
    assert ds.X.tolist() == [[1, 2], [3, 4]] and ds.id_name == name and ds.ids.tolist() == ["17", "42"]


def test_an_id_like_column_is_never_a_feature_beside_the_chosen_id(tmp_path):
    # The walkthrough's H1: with --id-column customer_id, a row counter 'id' became a feature.
    path = _csv(tmp_path, "id,customer_id,a,label\n0,C1,1,0\n1,C2,2,0\n2,C3,3,1\n")
    with pytest.raises(DataError, match=r"several columns look like the id .*--drop the others"):
        load_dataset(path)
    with pytest.raises(DataError, match=r"column\(s\) 'id' also look like row ids, not features: --drop id"):
        load_dataset(path, id_column="customer_id")
    with pytest.raises(DataError, match=r"'customer_id' also look like row ids"):  # a feature named as the id
        load_dataset(path, id_column="a", drop=["id"])
    ds = load_dataset(path, id_column="customer_id", drop=["id"])
    assert ds.X.tolist() == [[1], [2], [3]] and ds.ids.tolist() == ["C1", "C2", "C3"]


@pytest.mark.parametrize("roles", [
    {"label_column": "LABEL", "drop": ["label"]}, {"id_column": "CUSTOMER_ID", "drop": ["customer_id"]},
    {"label_column": "Label", "id_column": "label"}, {"id_column": "label"},  # the label found by its name
])
def test_a_column_in_two_roles_is_refused_however_it_is_spelled(tmp_path, roles):
    path = _csv(tmp_path, "customer_id,a,label\nC1,1,0\nC2,2,0\nC3,3,1\n")
    with pytest.raises(DataError, match=r"would be .* and .*: a column is the label, the row ids or dropped"):
        load_dataset(path, **roles)


def test_the_drop_suggestion_is_quoted_for_a_shell(tmp_path):
    path = _csv(tmp_path, "Order ID,Customer ID,a\n1,C1,1\n2,C2,2\n")
    with pytest.raises(DataError, match="--drop 'Customer ID' "):
        load_dataset(path, id_column="Order ID")


def test_repeated_ids_are_read_with_a_warning(tmp_path):
    with pytest.warns(DataWarning, match=r"the id column 'customer_id' repeats 1 id\(s\) \(e.g. 'C1'\)"):
        ds = load_dataset(_csv(tmp_path, "customer_id,a\nC1,1\nC2,2\nC1,3\n"), id_column="customer_id")
    assert ds.ids.tolist() == ["C1", "C2", "C1"]


def test_a_column_of_uuids_is_an_id_whatever_its_name(tmp_path):
    text = ("key,a,b\n"
            "6f1c2a3e-1b2c-4d5e-8f90-a1b2c3d4e5f6,1,2\n"
            "0e8e4f1a-7b7c-4c1d-9e2f-0a1b2c3d4e5f,3,4\n")
    with pytest.warns(DataWarning, match="column 'key' taken as the id"):
        ds = load_dataset(_csv(tmp_path, text))
    assert ds.X.tolist() == [[1, 2], [3, 4]] and ds.ids[0].startswith("6f1c2a3e")
    for word in ("Paid", "valid", "PAID"):  # words ending in "id" are features
        ds = load_dataset(_csv(tmp_path, f"{word},b\n1,2\n3,4\n", name=f"{word}.csv"))
        assert ds.X.shape == (2, 2) and ds.ids is None


@pytest.mark.parametrize("text, message", [
    ("", "empty file"),
    ("\n\n", "empty file"),
    ("a,b\n1,2\n", r"1 data row\(s\); a detector needs at least 2 rows"),
    ("a,b\n1,2\n3,x\n", "non-numeric value 'x' at line 3, column 'b'"),
    ("a;b;c\n1;2;3\n4;5;6\n", None),  # sniffed: fine
    ("a,b\n1,2\n3,4,5,6\n", "line 3 has 4 fields, the header has 2"),
])
def test_malformed_small_tables_are_one_line_errors(tmp_path, text, message):
    path = _csv(tmp_path, text)
    if message is None:
        assert load_dataset(path).X.shape == (2, 3)
        return
    with pytest.raises(DataError, match=message) as err:
        load_dataset(path)
    assert "\n" not in str(err.value)


def test_a_field_of_any_size_is_read_or_refused_cleanly(tmp_path):
    big = "x" * (300 * 1024)  # the csv module refuses fields over 128 KiB with csv.Error
    with pytest.raises(DataError, match=r"non-numeric value 'x{40}\[\.\.\.\]' at line 3, column 'b'") as err:
        load_dataset(_csv(tmp_path, f"a,b\n1,2\n3,{big}\n"))
    assert len(str(err.value)) < 300
    with pytest.raises(DataError, match="non-numeric value") as err:
        load_dataset(_csv(tmp_path, f'a,b\n1,2\n3,"{big}\n,\n"\n', name="q.csv"))
    ds = load_dataset(_csv(tmp_path, f"note,a,b\n{big},1,2\ny,3,4\n", name="n.csv"), drop=["note"])
    assert ds.X.tolist() == [[1, 2], [3, 4]]


def test_a_tsv_that_is_really_comma_separated_says_to_pass_sep(tmp_path):
    with pytest.raises(DataError, match=r"non-numeric value '1,2' at line 2, column 'a,b' \(one column only: "
                                        r"is the separator right\? pass --sep\)"):
        load_dataset(_csv(tmp_path, "a,b\n1,2\n3,4\n", name="x.tsv"))
    assert load_dataset(_csv(tmp_path, "a,b\n1,2\n3,4\n", name="x.tsv"), sep=",").X.shape == (2, 2)


def test_a_0_1_column_of_an_unlabeled_table_is_named_as_a_possible_label(tmp_path):
    """The new-user walkthrough, H1: Pima's label column 'Outcome' was silently a feature, and the
    enhanced detector 'scored' 0.94 AUC-ROC by reading the answer."""
    path = _csv(tmp_path, "Glucose,BMI,Outcome\n148,33.6,1\n85,26.6,0\n183,23.3,1\n89,28.1,0\n")
    with pytest.warns(DataWarning, match=r"hold only 0 and 1 \('Outcome'\)\. If one is the label, pass --label-column"):
        ds = load_dataset(path)
    assert ds.y is None and ds.X.shape == (4, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load_dataset(path, label_column="Outcome").y.tolist() == [1, 0, 1, 0]


def test_a_decimal_comma_is_named_in_the_error(tmp_path):
    """The new-user walkthrough, M4: '0,0049' in a semicolon file said only 'non-numeric value'."""
    with pytest.raises(DataError, match=r"non-numeric value '0,0049' at line 2, column 'a' \(a decimal comma\? "
                                        r"pass --decimal ,\)"):
        load_dataset(_csv(tmp_path, "a;b\n0,0049;1\n2;3\n"))


# ------------------------------------------------------------------ spreadsheet exports (the walkthrough's M4)
def test_a_separator_ending_every_line_leaves_no_empty_unnamed_column(tmp_path):
    path = _csv(tmp_path, "a,b,label,\n1,2,0,\n3,4,1,\n5,7,0,\n")
    with pytest.warns(DataWarning, match=r"column\(s\) Unnamed: 3 with no name and no value dropped"):
        ds = load_dataset(path)
    assert ds.X.tolist() == [[1, 2], [3, 4], [5, 7]] and ds.y.tolist() == [0, 1, 0]
    with pytest.raises(DataError, match="column.s. b hold no value"):  # a named empty column is the user's
        load_dataset(_csv(tmp_path, "a,b,label\n1,,0\n3,,1\n", name="named.csv"), missing="drop")


def test_missing_values_of_a_table_are_placed_by_line_and_column_name(tmp_path):
    import pandas as pd

    with pytest.raises(DataError, match=r"first at \(line 4, column 'Heart Rate'\); pass --missing drop"):
        load_dataset(_csv(tmp_path, "a,Heart Rate,label\n1,2,0\n3,4,1\n5,,0\n"))
    pd.DataFrame({"a": [1.0, np.nan, 3.0], "b": [4.0, 5.0, 6.0]}).to_parquet(tmp_path / "p.parquet")
    with pytest.raises(DataError, match=r"first at \(row 1, column 'a'\)"):
        load_dataset(tmp_path / "p.parquet")


@pytest.mark.parametrize("na", ["#N/A", "#N/A N/A", "N/A", "NA"])
def test_excels_na_cells_are_missing(tmp_path, na):
    with pytest.warns(DataWarning, match="1 row.s. with missing values dropped"):
        ds = load_dataset(_csv(tmp_path, f"a,b,label\n1,{na},0\n3,4,1\n5,6,0\n"), missing="drop")
    assert ds.X.tolist() == [[3, 4], [5, 6]]


def test_an_excel_sep_line_names_the_separator_and_no_pandas_warning_leaks(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ds = load_dataset(_csv(tmp_path, "sep=;\na;b;label\n1;2;0\n3;4;1\n5;6;0\n"))
        assert ds.X.tolist() == [[1, 2], [3, 4], [5, 6]] and ds.y.tolist() == [0, 1, 0]
        with pytest.raises(DataError, match="non-numeric value 'x' at line 4, column 'b'"):
            load_dataset(_csv(tmp_path, "sep=;\na;b;label\n1;2;0\n3;x;1\n", name="x.csv"), sep=";")
        with pytest.raises(DataError, match=r"the data rows have more fields than the header .* pass --sep"):
            load_dataset(_csv(tmp_path, "a,b\n1,2,3\n4,5,6\n", name="w.csv"))


def test_a_windows_1252_file_says_to_pass_its_encoding(tmp_path):
    path = tmp_path / "w.csv"
    path.write_bytes("Größe,b,label\n1,2,0\n3,4,1\n5,6,0\n".encode("cp1252"))
    with pytest.raises(DataError, match="not a UTF-8 text file .*pass --encoding cp1252"):
        load_dataset(path)
    ds = load_dataset(path, encoding="cp1252")
    assert ds.X.tolist() == [[1, 2], [3, 4], [5, 6]] and ds.y.tolist() == [0, 1, 0]
    with pytest.raises(DataError, match="unknown encoding 'klingon'"):
        load_dataset(path, encoding="klingon")
    with pytest.raises(DataError, match="--encoding applies to CSV and TSV files only"):
        load_dataset(_npz(tmp_path, X=np.ones((2, 1)), y=np.zeros(2)), encoding="cp1252")


def test_a_utf16_file_says_utf16_and_an_unknown_encoding_is_a_usage_error(tmp_path):
    """Walkthrough 3, M7/M10: a UTF-16 export was told to pass cp1252; --encoding foo exited 1."""
    from click.testing import CliRunner

    from das.engine.cli import main

    path = tmp_path / "u.csv"
    path.write_bytes("a,b,label\n1,2,0\n3,4,1\n5,6,0\n".encode("utf-16"))
    with pytest.raises(DataError, match="UTF-16 .*pass --encoding utf-16"):
        load_dataset(path)
    assert load_dataset(path, encoding="utf-16").X.tolist() == [[1, 2], [3, 4], [5, 6]]
    res = CliRunner().invoke(main, ["data", "info", str(path), "--encoding", "foo"])
    assert res.exit_code == 2 and "unknown encoding 'foo'" in res.output


def test_a_column_given_two_roles_is_refused(tmp_path):
    path = _csv(tmp_path, "a,b,label\n1,2,0\n3,4,1\n")
    with pytest.raises(DataError, match="--label-column label and --drop label name the same column"):
        load_dataset(path, label_column="label", drop=["label"])
    with pytest.raises(DataError, match="--label-column a and --id-column a name the same column"):
        load_dataset(path, label_column="a", id_column="a")


def test_nan_spelled_as_numpy_and_pandas_print_it_is_missing(tmp_path):
    """Walkthrough 3, M1: 'NaN' (what numpy and pandas write) was refused as text; 'nan', 'NAN' were read."""
    from das.collab.data import load_dataset

    path = tmp_path / "d.csv"
    path.write_text("a,b\n1,2\nNaN,3\n4,5\n")
    ds = load_dataset(path, missing="drop")
    assert ds.X.shape == (2, 2)


def test_missing_drop_drops_rows_without_a_label_too(tmp_path):
    """Walkthrough 3, M6: `--missing drop` dropped rows with a missing feature but refused a missing label."""
    from das.collab.data import load_dataset

    path = tmp_path / "d.csv"
    path.write_text("a,b,label\n1,2,0\n3,4,\n5,,1\n7,8,0\n9,10,1\n")
    with pytest.raises(DataError, match="missing or infinite label"):
        load_dataset(path, missing="mean")  # a label cannot be filled in
    with pytest.warns(DataWarning, match="2 row\\(s\\) with missing values dropped \\(1 without a label\\)"):
        ds = load_dataset(path, missing="drop")
    assert ds.X.tolist() == [[1, 2], [7, 8], [9, 10]] and ds.y.tolist() == [0, 0, 1]
    assert ds.row_ids().tolist() == [0, 3, 4]


def test_dash_double_dash_and_dot_cells_are_missing_in_a_number_column(tmp_path):
    """Walkthrough 4, L1: '-', '--' (Excel, accounting) and '.' (SAS, Stata) were refused as text."""
    path = _csv(tmp_path, "a,b,c,label\n-1.5,-,1,0\n2,--,-2,0\n.,3,.5,0\n4,5,-.5,1\n6,7,8,0\n")
    with pytest.raises(DataError, match=r"3 missing value\(s\), first at \(line 2, column 'b'\)"):
        load_dataset(path)
    with pytest.warns(DataWarning, match=r"3 missing value\(s\) filled"):
        ds = load_dataset(path, missing="mean")
    assert ds.X[:, 2].tolist() == [1, -2, 0.5, -0.5, 8] and ds.X[0, 0] == -1.5  # negative numbers unaffected
    assert ds.X[2, 0] == pytest.approx((-1.5 + 2 + 4 + 6) / 4)


def test_a_lone_dash_in_a_text_column_is_still_text(tmp_path):
    path = _csv(tmp_path, "name,a\n-,1\nbob,2\n-,3\n")
    with pytest.raises(DataError, match="non-numeric value 'bob' at line 3, column 'name' \\(text\\?"):
        load_dataset(path)
    ds = load_dataset(path, id_column="name")
    assert ds.ids.tolist() == ["-", "bob", "-"]


@pytest.mark.parametrize("labels, y", [("-1,1,-1,-1", None), ("1,1,1,1", [1, 1, 1, 1]), ("0,x,0,1", None)])
def test_labels_the_caller_does_not_use_never_refuse_the_file(tmp_path, labels, y):
    """Walkthrough 4, L2: `das score` (which reads no labels) refused -1/1 and all-1 label columns."""
    path = _csv(tmp_path, "a,b,label\n" + "".join(f"{i},{i % 3},{v}\n" for i, v in enumerate(labels.split(","))))
    with pytest.raises(DataError, match="labels must be 0|no normal sample"):
        load_dataset(path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = load_dataset(path, unused_labels=True)
    assert (ds.y is None) == (y is None) and (y is None or ds.y.tolist() == y)
    assert (y is None) == any("labels not read, they are not used here" in str(w.message) for w in caught)
    assert ds.X.shape == (4, 2)


def test_no_header_on_a_file_with_a_header_says_line_1_looks_like_one(tmp_path):
    """Walkthrough 4, L3: `--no-header` on a file with a header gave the generic 'text?' hint."""
    path = _csv(tmp_path, "Preg,Glu\n1,2\n3,4\n5,6\n")
    with pytest.raises(DataError, match=r"'Preg' at line 1, column '0' \(line 1 looks like a header; leave out "
                                        r"--no-header\)"):
        load_dataset(path, header=False)
    path = _csv(tmp_path, "1,2\nx,4\n5,6\n")  # a word on line 2: text, not a header
    with pytest.raises(DataError, match=r"'x' at line 2, column '0' \(text\?"):
        load_dataset(path, header=False)
    path = _csv(tmp_path, "name,a\nbob,2\nann,4\n")  # a text column: text, header or not
    with pytest.raises(DataError, match=r"'name' at line 1, column '0' \(text\?"):
        load_dataset(path, header=False)
