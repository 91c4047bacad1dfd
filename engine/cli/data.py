"""``das data``: inspect datasets and the split the runtime will use."""
import warnings

import click

from das.collab.data import EXTENSIONS, DataError, DataWarning, dataset_info, list_datasets, load_dataset
from das.engine.cli._common import data_options, echo, echo_json, json_option


@click.group("data")
def data():
    """Inspect datasets (.npz/.mat with keys X, y, or .csv/.tsv/.parquet tables; y = 1 anomaly)."""


@data.command("info")
@click.argument("name_or_path")
@data_options
@json_option
def info(name_or_path, data_dir, read, as_json):
    """Show size, anomaly rate, split sizes and fingerprint of NAME_OR_PATH.

    NAME_OR_PATH is a file, or a bare name looked up in the data directory.
    The split is the papers' protocol: normals in file order, the first half
    (floor) trains; the test set is the rest of the normals plus all anomalies.
    """
    res = dataset_info(name_or_path, data_dir, **read)
    if as_json:
        echo_json(res)
        return
    rate = "unlabeled" if not res["labeled"] else f"{res['anomalies']} ({100 * res['anomaly_rate']:.2f} %)"
    test_anom = "" if not res["labeled"] else f", {res['test_anomalies']} anomalies"
    lines = [
        ("dataset", res["name"]), ("source", res["source"]),
        ("samples x features", f"{res['n']} x {res['d']}"), ("anomalies", rate),
        ("split", f"train {res['n_train']} normals; test {res['n_test']}{test_anom}"),
        ("constant columns", f"{res['constant_columns']} (in train: {res['constant_columns_train']})"),
        ("fingerprint", res["fingerprint"]),
    ]
    for key, value in lines:
        echo(f"{key + ':':20s}{value}")


def _list_rows(data_dir, stats, read):
    rows = []
    for path in list_datasets(data_dir):
        row = {"name": path.stem, "format": path.suffix.lstrip(".").lower(), "path": str(path),
               "size_kb": round(path.stat().st_size / 1024, 1)}
        if stats:
            try:
                with warnings.catch_warnings():  # a listing is not the place for per-file data warnings
                    warnings.simplefilter("ignore", DataWarning)
                    ds = load_dataset(path, **read)
                row |= {"n": len(ds.X), "d": ds.X.shape[1], "anomalies": ds.n_anomalies if ds.y is not None else None}
            except DataError as exc:  # one bad file must not hide the others: show why instead
                row["error"] = str(exc)
        rows.append(row)
    return rows


@data.command("list")
@data_options
@click.option("--stats", is_flag=True, help="Also load each file (with the data options) and show n, d and the "
                                            "anomaly count.")
@json_option
def list_(data_dir, read, stats, as_json):
    """List the dataset files in the data directory."""
    rows = _list_rows(data_dir, stats, read)
    if as_json:
        echo_json(rows)
        return
    if not rows:
        echo(f"no dataset files ({', '.join(EXTENSIONS)}) found")
        return
    width = max(len(r["name"]) for r in rows)
    for r in rows:
        line = f"{r['name']:{width}s}  {r['format']:3s}  {r['size_kb']:>9.1f} KB"
        if "error" in r:
            line += f"  error: {r['error']}"
        elif stats:
            anomalies = "unlabeled" if r["anomalies"] is None else f"{r['anomalies']} anomalies"
            line += f"  {r['n']:>7d} x {r['d']:<4d} {anomalies}"
        echo(line)
