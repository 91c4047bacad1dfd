"""``das enhance``: base vs enhanced on a real dataset, scores file, run recorded, clean errors."""
import csv
import json
import os

import pytest
from click.testing import CliRunner

from das.engine.cli import main
from das.program_store import ProgramStore


@pytest.fixture
def store_path(certified_store):
    """A copy of the store certified once per test session (conftest)."""
    return certified_store


def _run(*args):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_help():
    res = _run("enhance", "--help")
    assert res.exit_code == 0
    for opt in ("--data", "--detector", "--fusion", "--program", "--out", "--json"):
        assert opt in res.output


@pytest.mark.parametrize("fusion", ["sum", "collate"])
def test_enhance_real_dataset(odds_dir, tmp_path, store_path, fusion):
    out = tmp_path / "scores.csv"
    res = _run("enhance", "--data", str(odds_dir / "wine.npz"), "--detector", "iforest", "--program", "certified",
               "--fusion", fusion, "--out", str(out), "--json", "--store", str(store_path))
    assert res.exit_code == 0, res.output
    payload = json.loads(res.output)
    assert payload["detector"] == "IForest" and payload["fusion"] == fusion
    for key in ("base", "enhanced"):
        assert 0.0 <= payload["metrics"][key]["auc_pr"] <= 1.0
    with open(out) as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == payload["n_test"] and set(rows[0]) == {"row", "label", "base", "enhanced"}
    from das.collab.data import load_dataset, split_dataset

    test_rows = split_dataset(load_dataset(odds_dir / "wine.npz")).test_index
    assert [int(r["row"]) for r in rows] == test_rows.tolist()  # row numbers in the file, not in the split
    with ProgramStore(store_path) as store:
        runs = store.runs(payload["program_sha256"])
    assert payload["run_id"] in [r.id for r in runs]
    lam = next(r for r in runs if r.id == payload["run_id"]).metrics["lam"]
    assert lam == (2.0 if fusion == "sum" else None)  # collate learns its fusion: no lam recorded


def test_enhance_scores_are_the_benchmark_scores(odds_dir, tmp_path, store_path):
    """`das enhance` and the benchmark cell (collab.evaluate) give identical numbers."""
    import numpy as np

    from das.collab.data import load_dataset, split_dataset
    from das.collab.evaluate import evaluate

    out = tmp_path / "scores.csv"
    res = _run("enhance", "--data", str(odds_dir / "wine.npz"), "--detector", "IForest", "--seed", "2",
               "--program", "certified", "--json", "--store", str(store_path), "--out", str(out))
    payload = json.loads(res.output)
    with ProgramStore(store_path) as store:
        source = store.get(payload["program_sha256"]).source
    split = split_dataset(load_dataset(odds_dir / "wine.npz"), scale="standard")
    bench = evaluate(split, "IForest", source, seed=2, methods=("base", "sum"), return_scores=True)
    with open(out) as fh:
        rows = list(csv.DictReader(fh))
    np.testing.assert_array_equal([float(r["enhanced"]) for r in rows], bench["scores"]["sum"])
    np.testing.assert_array_equal([float(r["base"]) for r in rows], bench["scores"]["base"])
    assert payload["metrics"]["enhanced"]["auc_pr"] == bench["metrics"]["sum"]["auc_pr"]


def test_enhance_certifies_on_first_use(odds_dir):
    # No --store: the per-test DAS_HOME store is empty, so the bundled programs are certified first
    # (PCA's: the quickest detector to verify).
    res = _run("enhance", "--data", str(odds_dir / "wine.npz"), "--detector", "PCA", "--program", "certified")
    assert res.exit_code == 0, res.output
    assert "AUC-PR" in res.output and "enhanced" in res.output and "recorded" in res.output
    with ProgramStore() as store:
        assert store.default("PCA") is not None and store.verifications(store.default("PCA"))


def test_uncertified_program_is_refused_cleanly(odds_dir):
    with ProgramStore() as store:
        sha = store.add("import numpy as np\n\ndef generate_hard_anomalies(n_samples, model, X_train):\n"
                        "    return X_train[:n_samples] + 1.0\n", "IForest")
    res = CliRunner().invoke(main, ["enhance", "--data", str(odds_dir / "wine.npz"), "--detector", "IForest",
                                    "--program", sha])
    assert res.exit_code == 1
    assert "not certified" in res.output and "Traceback" not in res.output


@pytest.mark.parametrize("args, message, code", [
    (("--detector", "NoSuchDetector"), "NoSuchDetector", 2),
    (("--detector", "IForest", "--data", "/nonexistent/x.npz"), "x.npz", 1),
    (("-d", "IForest", "--out", "/nonexistent/dir/scores.csv"), "directory /nonexistent/dir does not exist", 2),
    # walkthrough 4, L5: a usage error (exit 2), not the API's allow_uncertified hint (exit 1)
    (("-d", "IForest", "--program", "cetrified"), "'cetrified' is not a program: give auto, certified", 2),
    (("-d", "IForest", "--program", "fff0"), "no program matches fff0", 2),
    (("-d", "IForest", "--program", "0b9c"), "program 0b9cf40b9ac6 is for PCA, not IForest", 2),  # a bundled one
    # the second walkthrough's M2/M3: checked before the work, never a traceback or a file named like a directory
    (("-d", "IForest", "--out", "/proc/scores.csv"), "cannot write in /proc", 2),
    (("-d", "IForest", "--out", ""), "'' is not a file name", 2),
    (("-d", "IForest", "--out", "/tmp/das-no-such-dir/"), "is not a file name", 2),
    (("-d", "IForest", "--out", "x" * 300 + ".csv"), "File name too long", 2),  # red team round 13
    (("-d", "IForest", "--out", "/etc/hostname/scores.csv"), "directory /etc/hostname is not a directory", 2),
])
def test_bad_input_is_a_clean_error(odds_dir, store_path, args, message, code):
    argv = ["enhance", "--data", str(odds_dir / "wine.npz"), "--store", str(store_path), *args]
    res = CliRunner().invoke(main, argv)
    assert res.exit_code == code and message in res.output and "Traceback" not in res.output


def _user_csv(tmp_path, labels):
    """Semicolon-separated, an id column, a `Label` column, one missing value: data a user has."""
    import numpy as np

    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(size=(120, 3)), rng.normal(4, 1, size=(len(labels) - 120, 3))])
    lines = ["customer_id;a;b;c;Label"]
    for i, (row, label) in enumerate(zip(X, labels)):
        cells = ["" if i == 7 and j == 1 else f"{v:.5f}" for j, v in enumerate(row)]
        lines.append(";".join([f"C{i:03d}", *cells, str(label)]))
    path = tmp_path / "customers.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_enhance_score_all_maps_every_row_to_the_users_id(tmp_path, store_path):
    data = _user_csv(tmp_path, [0] * 120 + [1] * 8)
    out = tmp_path / "scores.csv"
    res = CliRunner().invoke(main, ["enhance", "--data", str(data), "-d", "IForest", "--store", str(store_path),
                                    "--missing", "mean", "--out", str(out), "--score-all"])
    assert res.exit_code == 0, res.output
    assert "column 'Label' taken as the label" in res.output and "enhanced" in res.output
    with open(out) as fh:
        rows = list(csv.DictReader(fh))
    assert [r["customer_id"] for r in rows] == [f"C{i:03d}" for i in range(128)]
    assert {r["split"] for r in rows[:60]} == {"train"} and {r["split"] for r in rows[60:]} == {"test"}
    assert [r["label"] for r in rows[-8:]] == ["1"] * 8 and set(rows[0]) == {
        "customer_id", "label", "split", "base", "enhanced"}


def test_score_writes_one_score_per_row_and_all_normal_labels_are_fine(tmp_path, store_path):
    data = _user_csv(tmp_path, [0] * 130)
    out = tmp_path / "scores.csv"
    res = CliRunner().invoke(main, ["score", "--data", str(data), "-d", "IForest", "--store", str(store_path),
                                    "--missing", "drop", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "fitted on all 129 rows" in res.output and "1 row(s) with missing values dropped" in res.output
    with open(out) as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 129 and "C007" not in [r["customer_id"] for r in rows]
    assert all(r["enhanced"] != "-0.0" for r in rows)
    res = CliRunner().invoke(main, ["enhance", "--data", str(data), "-d", "IForest", "--store", str(store_path),
                                    "--missing", "drop"])
    assert res.exit_code == 0, res.output  # labels all 0: scores only, not an error
    assert "scores only" in res.output


def test_out_is_written_where_it_was_checked(tmp_path, store_path, monkeypatch, odds_dir):
    # Red team round 13: '~' and 'missing/../x' passed the check, then the write failed after the work.
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    for out, written in [("~/home.csv", tmp_path / "home.csv"), ("missing/../up.csv", tmp_path / "up.csv")]:
        res = CliRunner().invoke(main, ["enhance", "--data", str(odds_dir / "wine.npz"), "-d", "IForest",
                                        "--program", "none", "--store", str(store_path), "--out", out])
        assert res.exit_code == 0, res.output
        assert written.is_file()


@pytest.mark.parametrize("args, warned", [
    (["--lam", "0.5"], "--program auto chooses the fusion weight itself"),
    (["--lam", "0.5", "--program", "certified", "--fusion", "collate"], "--fusion collate learns its fusion"),
    (["--lam", "0.5", "--program", "certified"], None),
    ([], None),
])
@pytest.mark.parametrize("command", [["enhance"], ["score", "--out", "OUT"]])
def test_a_lam_that_is_not_used_is_warned_about(tmp_path, monkeypatch, command, args, warned):
    """The new-user walkthrough: --lam was silently ignored with auto (the default) and collate."""
    from das.collab.data import DataError

    def stop(*a, **k):
        raise DataError("stopped before the work")

    cli = __import__("das.engine.cli.enhance", fromlist=["x"])
    monkeypatch.setattr(cli, "enhance_dataset", stop)
    monkeypatch.setattr(cli, "score_dataset", stop)
    command = [a.replace("OUT", str(tmp_path / "s.csv")) for a in command]
    (tmp_path / "d.npz").touch()
    res = CliRunner().invoke(main, [*command, "--data", str(tmp_path / "d.npz"), "-d", "IForest", *args])
    assert res.exit_code == 1 and "stopped before the work" in res.stderr
    lines = [line for line in res.stderr.splitlines() if line.startswith("Warning: --lam")]
    assert lines == ([f"Warning: --lam 0.5 is not used: {warned}"] if warned else [])


def test_score_says_which_rows_a_subsampled_detector_was_fitted_on(tmp_path, store_path, monkeypatch):
    """The new-user walkthrough: OCSVM on more rows than it takes warned of its subsample, then the
    summary said 'fitted on all N rows'."""
    import numpy as np

    from das.detectors.pyod_models import OCSVM

    monkeypatch.setitem(OCSVM.__init__.__kwdefaults__, "max_train_rows", 50)
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", X=rng.normal(size=(80, 3)), y=np.zeros(80))
    res = CliRunner().invoke(main, ["score", "--data", str(tmp_path / "d.npz"), "-d", "OCSVM", "--program", "none",
                                    "--store", str(store_path), "--out", str(tmp_path / "s.csv")])
    assert res.exit_code == 0, res.output
    assert "subsample of 50" in res.stderr
    assert "no enhancement, fitted on all 80 rows, OCSVM on a seeded subsample of 50 of them, n_syn=0)" in res.stdout


@pytest.mark.parametrize("command", ["score", "enhance"])
def test_out_naming_the_input_file_is_refused_before_it_is_overwritten(tmp_path, command):
    """Walkthrough 3, H3: `das score --data x.csv --out x.csv` replaced the data with its scores."""
    import numpy as np

    data = tmp_path / "x.csv"
    rng = np.random.default_rng(0)
    rows = "\n".join(",".join(f"{v:.4f}" for v in r) + f",{int(i % 10 == 0)}" for i, r in enumerate(rng.normal(size=(40, 3))))
    data.write_text("a,b,c,label\n" + rows + "\n")
    before = data.read_bytes()
    result = CliRunner().invoke(main, [command, "--data", str(data), "-d", "ECOD", "--program", "none",
                                       "--out", str(data), "--store", str(tmp_path / "s.sqlite")])
    assert result.exit_code == 2 and "would be overwritten" in result.output
    assert data.read_bytes() == before


def test_out_dash_is_refused_not_written_as_a_file_named_dash(tmp_path, monkeypatch):
    """Walkthrough 3, L3: `--out -` wrote a file literally named '-'."""
    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(main, ["score", "--data", "x.csv", "-d", "ECOD", "--out", "-"])
    assert res.exit_code == 2 and "'-' is not standard output here" in res.output and not (tmp_path / "-").exists()


def _small_csv(path, labels=True):
    import numpy as np

    rng = np.random.default_rng(0)
    rows = "\n".join(",".join(f"{v:.4f}" for v in r) + (f",{int(i % 10 == 0)}" if labels else "")
                     for i, r in enumerate(rng.normal(size=(40, 3))))
    path.write_text(("a,b,c,label\n" if labels else "a,b,c\n") + rows + "\n")
    return path


@pytest.mark.parametrize("link", ["same", "symlink", "hardlink", "wal"])
@pytest.mark.parametrize("command", ["score", "enhance", "export"])
def test_out_naming_the_program_store_is_refused(tmp_path, command, link):
    """Walkthrough 4, H3: `das score --out "$(das store path)"` replaced the store with scores."""
    store = tmp_path / "home" / "programs.sqlite"
    store.parent.mkdir()
    ProgramStore(store).close()
    target = {"same": store, "symlink": tmp_path / "link.csv", "hardlink": tmp_path / "hard.csv",
              "wal": tmp_path / "home" / "programs.sqlite-wal"}[link]
    if link == "symlink":
        target.symlink_to(store)
    elif link == "hardlink":
        os.link(store, target)
    elif link == "wal":
        target.write_bytes(b"")
    before = store.read_bytes()
    args = (["programs", "export", "--detector", "ECOD"] if command == "export" else
            [command, "--data", str(_small_csv(tmp_path / "x.csv")), "-d", "ECOD", "--program", "none"])
    env = {"DAS_HOME": str(store.parent), "DAS_STORE": None}
    for store_args, env_ in (([], env), (["--store", str(store)], {})):
        res = CliRunner(env=env_).invoke(main, [*args, *store_args, "--out", str(target)])
        assert res.exit_code == 2, res.output
        assert "is the program store" in res.output and "would be overwritten" in res.output
        assert store.read_bytes() == before


def test_out_in_a_directory_where_no_file_can_be_made_is_refused_before_the_work(tmp_path, monkeypatch):
    """Walkthrough 4, M2: `--out /proc/version` (an existing file in a directory that takes no new
    file) passed the check, then the temporary file failed with a traceback after the work."""
    if not os.path.isfile("/proc/version"):
        pytest.skip("no /proc")
    cli = __import__("das.engine.cli.enhance", fromlist=["x"])
    monkeypatch.setattr(cli, "score_dataset", lambda *a, **k: pytest.fail("the work ran"))
    data = _small_csv(tmp_path / "x.csv")
    for extra in ([], ["--json"]):
        res = CliRunner().invoke(main, ["score", "--data", str(data), "-d", "ECOD", "--program", "none",
                                        "--out", "/proc/version", *extra])
        assert res.exit_code == 2 and "cannot write in /proc" in res.output
        if extra:
            assert json.loads(res.stdout)["exit_code"] == 2


def test_out_onto_a_device_writes_into_it(tmp_path, devices_kept):
    """Walkthrough 4, H1 and L12: `--out /dev/null` replaced the device with a regular file (as root),
    `--out /dev/stdout` was refused as '/proc/PID/fd/pipe:[...]'."""
    import stat
    import subprocess
    import sys

    data = _small_csv(tmp_path / "x.csv")
    env = {**os.environ, "DAS_HOME": str(tmp_path / "home")}
    env.pop("DAS_STORE", None)
    for out in ("/dev/null", "/dev/stdout"):
        res = subprocess.run([sys.executable, "-c", "from das.engine.entry import run; run()", "score", "--data",
                              str(data), "-d", "ECOD", "--program", "none", "--out", out],
                             capture_output=True, text=True, env=env, timeout=300)
        assert res.returncode == 0, res.stderr
        assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
        assert f"scores of 40 rows written to {out}" in res.stdout
        assert ("row,label,base,enhanced" in res.stdout) == (out == "/dev/stdout")


def test_a_command_that_certifies_the_bundled_programs_says_so_on_stderr_once(tmp_path, store_path, monkeypatch):
    """Walkthrough 4, M4: the first use of a detector certified the bundle in 30-60 s of silence
    (only `das demo` said so); a store that has done it says nothing, and neither does a command
    that never certifies. The line comes when the certification starts, after the data was read."""
    from das.collab.certification import Certification
    from das.collab.data import DataError
    from das.engine.cli._common import FIRST_USE_MESSAGE

    def stop(self, *a, **k):
        raise DataError("stopped before the work")

    monkeypatch.setattr(Certification, "import_bundle", stop)
    data = str(_small_csv(tmp_path / "x.csv"))
    out = str(tmp_path / "s.csv")
    for command in (["score", "--out", out], ["enhance"], ["select"]):
        for detector, program, said in (("PCA", [], True), ("PCA", ["--program", "certified"], True),
                                        ("PCA", ["--program", "none"], False), ("ECOD", [], False)):
            if command == ["select"] and program:
                continue
            store = tmp_path / "fresh.sqlite" if said else store_path
            res = CliRunner().invoke(main, [*command, "--data", data, "-d", detector, *program,
                                            "--store", str(store), "--json"])
            assert res.stderr.count(FIRST_USE_MESSAGE) == int(said), (command, detector, program, res.stderr)
            assert FIRST_USE_MESSAGE not in res.stdout
    (tmp_path / "bad.csv").write_text("a,b\n1,x\n")
    res = CliRunner().invoke(main, ["enhance", "--data", str(tmp_path / "bad.csv"), "-d", "PCA",
                                    "--store", str(tmp_path / "fresh.sqlite")])
    assert res.exit_code == 1 and FIRST_USE_MESSAGE not in res.stderr, res.stderr


def test_enhance_says_its_scores_file_holds_the_test_split_only(tmp_path, store_path):
    """Walkthrough 4, M8: unlabeled data got scores for half its rows, and nothing said so."""
    data = _small_csv(tmp_path / "x.csv", labels=False)
    out = tmp_path / "s.csv"
    res = CliRunner().invoke(main, ["enhance", "--data", str(data), "-d", "ECOD", "--program", "none",
                                    "--store", str(store_path), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "scores of 20 rows written" in res.stdout and "the 20 training rows are not scored" in res.stdout
    assert "--score-all or `das score` scores every row" in res.stdout
    res = CliRunner().invoke(main, ["enhance", "--data", str(data), "-d", "ECOD", "--program", "none",
                                    "--store", str(store_path), "--out", str(out), "--score-all"])
    assert "scores of 40 rows written" in res.stdout and "not scored" not in res.stdout


def test_score_does_not_refuse_labels_it_does_not_use(tmp_path):
    """Walkthrough 4, L2: `das score` refused a -1/1 label column and an all-1 one, though it reads no labels."""
    import numpy as np

    rng = np.random.default_rng(0)
    for name, labels in (("pm", [-1, 1]), ("all1", [1, 1])):
        data = tmp_path / f"{name}.csv"
        rows = "\n".join(",".join(f"{v:.4f}" for v in r) + f",{labels[i % 2]}" for i, r in enumerate(rng.normal(size=(30, 3))))
        data.write_text("a,b,c,label\n" + rows + "\n")
        res = CliRunner().invoke(main, ["score", "--data", str(data), "-d", "ECOD", "--program", "none",
                                        "--out", str(tmp_path / f"{name}.out.csv"), "--store", str(tmp_path / "s.sqlite")])
        assert res.exit_code == 0, res.output
        assert ("labels not read" in res.output) == (name == "pm")


def test_a_program_of_another_detector_is_a_usage_error(odds_dir, store_path):
    """Walkthrough 4, L5: `--program SHA` of a PCA program with `-d IForest` was exit 1."""
    sha = ProgramStore(store_path).list(detector="ECOD", status="certified")[0].sha256
    res = CliRunner().invoke(main, ["enhance", "--data", str(odds_dir / "wine.npz"), "--store", str(store_path),
                                    "-d", "IForest", "--program", sha[:8]])
    assert res.exit_code == 2 and f"program {sha[:12]} is for ECOD, not IForest" in res.output
    assert "Python API" not in res.output


def test_a_bundled_program_named_on_a_fresh_store_is_left_to_its_first_use(tmp_path):
    """Walkthrough 5, M1: `--program <bundled sha>` on a store that had not imported the bundle was
    "no program matches"; the check before the work now accepts it (certified once the data has been
    read) and still refuses another detector's program, both without certifying anything."""
    import click

    from das.collab.certification import BUNDLED_PROGRAMS
    from das.engine.cli.enhance import _check_program
    from das.program_store import read_bundle

    by_detector = {}
    for entry in read_bundle(BUNDLED_PROGRAMS):
        by_detector.setdefault(entry["program"]["detector"], entry["program"]["sha256"])
    store = tmp_path / "fresh.sqlite"
    _check_program(by_detector["IForest"][:10], "IForest", store)
    with pytest.raises(click.BadParameter, match="is for LOF, not IForest"):
        _check_program(by_detector["LOF"][:10], "IForest", store)
    with ProgramStore(store) as st:
        assert st.list() == []
