"""Large data: progress, detectors that do not scale, and Ctrl-C with no process left behind.

``benchmarks/large_data.py`` measures 1M x 20 rows; these tests keep to sizes a CI run affords.
"""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import psutil
import pytest

from das.collab.pipeline import enhance_dataset
from das.collab.progress import progress_bar, stage
from das.detectors import make_detector
from das.detectors.errors import SubsampleWarning
from das.detectors.pyod_models import NEIGHBOUR_MAX_ROWS, OCSVM_MAX_ROWS
from das.program_store import ProgramStore

DAS = Path(sys.executable).with_name("das")
JITTER = Path(__file__).parent / "programs" / "honest" / "iforest_augassign_jitter.py"


@pytest.fixture(scope="module")
def big_npz(tmp_path_factory):
    """300k x 20 seeded rows (0.5 % planted anomalies), compressed: long enough to interrupt at any
    stage, reading included (decompressing keeps the file open for a while)."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((300_000, 20))
    y = np.zeros(len(X), dtype=np.int64)
    y[rng.choice(len(X), 1_500, replace=False)] = 1
    X[y == 1] += 4.0
    path = tmp_path_factory.mktemp("big") / "big.npz"
    np.savez_compressed(path, X=X, y=y)
    return path


def _session_processes(sid):
    """The live processes of session ``sid`` (an exited one not yet reaped, a zombie, runs nothing)."""
    out = []
    for proc in psutil.process_iter(["pid"]):
        try:
            if os.getsid(proc.pid) == sid and proc.status() != psutil.STATUS_ZOMBIE:
                out.append(proc)
        except (ProcessLookupError, PermissionError, psutil.NoSuchProcess):
            continue
    return out


def _left_after_teardown(sid, wait=5.0):
    """Session ``sid``'s live processes once bubblewrap's die-with-parent teardown had ``wait`` s."""
    deadline = time.monotonic() + wait
    while (left := _session_processes(sid)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


def _sandbox_started(proc):
    try:
        return any("bwrap" in c.name() for c in proc.children(recursive=True))
    except psutil.NoSuchProcess:
        return False


def _reading(proc, path):
    try:
        return any(f.path == str(path) for f in proc.open_files())
    except psutil.NoSuchProcess:
        return False


def _interruptible():
    """A terminal's Ctrl-C default in the child, whatever the test run inherited (a suite started in
    the background of a shell without job control ignores SIGINT, and children inherit that)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.parametrize("moment", ["reading the data", "sandbox running"])
def test_ctrl_c_stops_enhance_cleanly(big_npz, tmp_path, moment):
    env = {**os.environ, "DAS_HOME": str(tmp_path / "home")}
    das = subprocess.Popen([str(DAS), "enhance", "--data", str(big_npz), "--detector", "IForest"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                           start_new_session=True, preexec_fn=_interruptible)
    proc = psutil.Process(das.pid)
    deadline = time.monotonic() + 240
    started = (lambda: _sandbox_started(proc)) if moment == "sandbox running" else (lambda: _reading(proc, big_npz))
    while not started() and das.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert das.poll() is None, "das enhance ended before it could be interrupted"
    os.kill(das.pid, signal.SIGINT)  # what the terminal sends to the foreground process
    try:
        _, err = das.communicate(timeout=60)
    finally:
        if das.poll() is None:
            os.killpg(das.pid, signal.SIGKILL)
    assert das.returncode == 130, err[-2000:]
    assert "Traceback" not in err and "Interrupted." in err
    left = _left_after_teardown(das.pid)
    assert left == [], [p.name() for p in left]


def test_progress_bar_counts_stages_and_completes_skipped_ones(capsys):
    with progress_bar("job", 4, enabled=True):
        stage("one")
        stage("two")
    err = capsys.readouterr().err
    assert "job: 1/4" in err and ", two" in err and "job: 4/4" in err and "done" in err
    stage("outside any bar")  # a no-op
    with progress_bar("job", 2, enabled=None):  # stderr is not a terminal here: silent
        stage("one")
    assert capsys.readouterr().err == ""


def test_das_enhance_shows_its_stages(tmp_path, capsys):
    from das.collab.certification import _sandbox_suite_version

    store = tmp_path / "programs.sqlite"
    with ProgramStore(store) as st:  # certified by fiat: this test is about the stages, not the suite
        sha = st.add(JITTER.read_text(), "IForest")
        st.record_verification(sha, {"borderline": 0.7}, True, _sandbox_suite_version())
    rng = np.random.default_rng(0)
    X = rng.standard_normal((4000, 6))
    y = (np.arange(4000) < 40).astype(int)
    X[y == 1] += 4.0
    np.savez(tmp_path / "d.npz", X=X, y=y)
    capsys.readouterr()
    res = enhance_dataset(tmp_path / "d.npz", "IForest", program=sha, store=store, progress=True)
    err = capsys.readouterr().err
    for what in ("read data", "split and scale", "fit IForest", "synthesize in the sandbox", "fit classifier",
                 "score test rows", "record run", "7/7"):
        assert what in err
    with ProgramStore(store) as st:
        assert st.runs(res["program_sha256"])[-1].metrics["base_subsample"] is None


@pytest.mark.parametrize("name,cap", [("OCSVM", OCSVM_MAX_ROWS), ("LOF", NEIGHBOUR_MAX_ROWS),
                                      ("KNN", NEIGHBOUR_MAX_ROWS)])
def test_detectors_that_do_not_scale_cap_their_training_rows(name, cap):
    assert make_detector(name).max_train_rows == cap
    assert not hasattr(make_detector("IForest"), "max_train_rows")


def test_subsample_is_seeded_stated_and_recorded():
    X = np.random.default_rng(1).standard_normal((3000, 4))
    with pytest.warns(SubsampleWarning, match=r"OCSVM does not scale to 3,000 training rows: fitted on a seeded "
                                              r"random subsample of 500 \(seed 7\)"):
        a = make_detector("OCSVM", random_state=7, max_train_rows=500).fit(X)
    assert a.subsample_ == {"rows": 500, "of": 3000, "seed": 7}
    with pytest.warns(SubsampleWarning):
        b = make_detector("OCSVM", random_state=7, max_train_rows=500).fit(X)
    np.testing.assert_array_equal(a.predict_score(X), b.predict_score(X))
    full = make_detector("KNN", max_train_rows=None).fit(X)
    assert full.subsample_ is None and len(full.decision_scores_) == 3000


ISOLATED_SLEEP = """
import sys, time
from das.collab.bench.isolate import call_isolated
print("started", flush=True)
call_isolated(time.sleep, (120,))
"""


def test_ctrl_c_during_an_isolated_bench_cell_kills_the_cell():
    """A cell runs in its own process group, so the terminal's SIGINT reaches only the parent."""
    parent = subprocess.Popen([sys.executable, "-c", ISOLATED_SLEEP], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, start_new_session=True,
                              preexec_fn=_interruptible)
    assert parent.stdout.readline().strip() == "started"
    proc = psutil.Process(parent.pid)
    deadline = time.monotonic() + 30
    while not proc.children() and time.monotonic() < deadline:
        time.sleep(0.05)
    cell = proc.children()[0]
    t0 = time.monotonic()
    os.kill(parent.pid, signal.SIGINT)
    try:
        _, err = parent.communicate(timeout=30)
        assert time.monotonic() - t0 < 10 and "KeyboardInterrupt" in err
        assert not cell.is_running()
    finally:
        if parent.poll() is None:
            parent.kill()
        if cell.is_running():  # its own process group: nothing else would end it
            cell.kill()


CTRL_C_IN_FORK = """
import os, signal, sys, time
from das.collab.bench.isolate import call_isolated
signal.signal(signal.SIGINT, signal.default_int_handler)
os.register_at_fork(after_in_parent=lambda: os.kill(os.getpid(), signal.SIGINT))
t0 = time.monotonic()
try:
    call_isolated(time.sleep, (60,))
except KeyboardInterrupt:
    print("interrupted after", round(time.monotonic() - t0, 1), flush=True)
"""


def test_a_ctrl_c_inside_fork_still_stops_the_cell():
    """A Ctrl-C that landed in fork()'s own handlers was swallowed and the parent waited out the cell
    (a CI run's flake: 'Exception ignored in _releaseLock'); here it lands there every time."""
    out = subprocess.run([sys.executable, "-c", CTRL_C_IN_FORK], capture_output=True, text=True, timeout=50)
    assert out.stdout.startswith("interrupted after") and float(out.stdout.split()[-1]) < 10, out.stderr


def test_the_enhancement_is_fitted_on_bounded_rows_and_the_detector_on_every_row(monkeypatch):
    """Above FIT_ROWS the source sees, N_syn counts and the forest fits a seeded subsample; below, every row."""
    from das.collab import enhance, pipeline

    seen = []

    class Recording:
        name, sha256, activity = "recording", None, "record"

        def rows(self, X, n, scorer, seed):
            seen.append((len(X), n))
            return enhance.random_outliers(X, n, np.random.default_rng(seed))

    monkeypatch.setattr(enhance, "FIT_ROWS", 400)
    X = np.random.default_rng(0).standard_normal((1_000, 3))
    large = pipeline.fit_source(Recording(), X, "IForest", seed=0)
    assert seen[-1] == (400, 40) and large.classifier.n_features_in_ == 3
    assert len(large.detector.decision_scores_) == 1_000  # the detector: every row
    assert large.classifier.estimators_[0].tree_.weighted_n_node_samples[0] <= 440
    again = pipeline.fit_source(Recording(), X, "IForest", seed=0)
    np.testing.assert_array_equal(again.scores(X)["sum"], large.scores(X)["sum"])  # seeded
    pipeline.fit_source(Recording(), X[:400], "IForest", seed=0)
    assert seen[-1] == (400, 40)  # at the bound: every row
    assert enhance.bounded_rows(400, 400) == slice(None)
    picked = enhance.bounded_rows(1_000, 400, seed=3)
    assert len(np.unique(picked)) == 400 and np.all(np.diff(picked) > 0)


#: Red team: on integer data, the grid points next to the rows a program is given are often
#: training rows it was not given; it returns the most normal-looking of them, jittered.
UNSEEN_GRID_COPIES = """
import numpy as np


def generate_hard_anomalies(n_samples, model, X_train):
    rng = np.random.default_rng(0)
    base = X_train[rng.integers(0, len(X_train), 40 * n_samples)]
    step = np.zeros_like(base)
    step[np.arange(len(base)), rng.integers(0, X_train.shape[1], len(base))] = rng.choice([-1.0, 1.0], len(base))
    seen = {tuple(row) for row in X_train.tolist()}
    cand = np.array([c for c in np.unique(base + step, axis=0).tolist() if tuple(c) not in seen and min(c) >= 0])
    scores = model.predict_score(cand)
    return cand[np.argsort(scores)[:n_samples]] + 1e-7
"""


@pytest.mark.parametrize("jitter", [0.0, 1e-7])
def test_copies_of_training_rows_the_program_was_not_given_are_refused(monkeypatch, jitter):
    from das.collab import enhance
    from das.collab.estimator import EnhancedDetector
    from das.collab.synthesis import OutputRefused

    monkeypatch.setattr(enhance, "FIT_ROWS", 300)
    X = np.random.default_rng(1).poisson([3, 4, 2, 5], size=(3000, 4)).astype(float)
    program = UNSEEN_GRID_COPIES.replace("+ 1e-7", f"+ {jitter!r}")
    with pytest.raises(OutputRefused, match="copy training rows the program was not given"):
        EnhancedDetector(detector="IForest", program=program, allow_uncertified=True).fit(X)
    EnhancedDetector(detector="IForest", program="random").fit(X)  # random outliers pass


def test_unseen_copies_are_counted_coordinate_by_coordinate():
    from das.sandbox.novelty import COPY_RATIO, NEAR_RATIO, unseen_copies

    rng = np.random.default_rng(0)
    X = np.c_[rng.integers(0, 5, 1000), rng.normal(size=1000), np.ones(1000)]

    def shares(out):
        found = unseen_copies(X, out)
        return found.copy_fraction, found.near_fraction

    assert shares(X[:10] + np.array([0.0, 0.0, 0.0])) == (1.0, 1.0)
    assert shares(X[:10] + np.array([0.5 * COPY_RATIO, 0.0, 0.0])) == (1.0, 1.0)  # within the resolution
    assert shares(X[:10] + np.array([0.5 * NEAR_RATIO, 0.0, 0.0])) == (0.0, 1.0)  # a near copy
    assert shares(X[:10] + np.array([0.5, 0.0, 0.0])) == (0.0, 0.0)  # half way to the next integer
    # a column with one value has no spacing: moving it is no copy, however the rest matches
    assert shares(X[:10] + np.array([0.0, 0.0, 24.0])) == (0.0, 0.0)
    copy, near = shares(rng.uniform(-3, 7, size=(500, 3)))
    assert copy == near == 0.0  # random rows never match
    assert shares(np.empty((0, 3))) == (0.0, 0.0)


def test_unseen_copies_read_signed_zeros_and_float32_as_the_classifier_does():
    """Red team A3: -0.0 and 0.0 differ in their bytes; A2: the forest casts to float32."""
    from das.sandbox.novelty import unseen_copies

    rng = np.random.default_rng(1)
    X = rng.integers(-2, 3, size=(2000, 4)).astype(float)
    X[rng.random(X.shape) < 0.5] *= -1.0  # half of the zeros become -0.0
    out = X[:40] * -1.0 * -1.0
    out[out == 0] = 0.0
    assert unseen_copies(X, out).copy_fraction == 1.0
    big = 1e8 + 16.0 * rng.integers(0, 4, size=(2000, 3))  # float32 step 8 here
    assert unseen_copies(big, big[:40] + 3.0).copy_fraction == 1.0  # the same float32 rows


def test_the_output_check_reads_float32_and_signed_zeros_as_the_classifier_does():
    from das.sandbox.novelty import measure

    rng = np.random.default_rng(2)
    big = 1e8 + 16.0 * rng.integers(0, 4, size=(500, 3))
    assert measure(big, big[:40] + 3.0).copy_fraction == 1.0
    X = rng.normal(size=(500, 3))
    X[:, 0] = np.where(rng.random(500) < 0.5, 0.0, -0.0)
    out = X[:40].copy()
    out[:, 0] = 0.0
    assert measure(X, out).copy_fraction == 1.0


def test_a_data_frame_above_fit_rows_is_taken_by_rows():
    """Red team A6: X_train[rows] on a DataFrame selected columns (a KeyError above FIT_ROWS)."""
    import pandas as pd

    from das.collab import pipeline
    from das.collab.enhance import FIT_ROWS

    frame = pd.DataFrame(np.random.default_rng(4).normal(size=(FIT_ROWS + 1, 3)), columns=list("abc"))
    fitted = pipeline.fit(frame, "IForest", program="random")
    assert fitted.X_syn.shape == (FIT_ROWS // 10, 3)


def test_near_copies_of_rows_the_program_was_not_given_are_refused():
    """Red team A1: above FIT_ROWS near copies had no limit on the rows the program never saw."""
    from das.collab.synthesis import OutputRefused, check_unseen

    rng = np.random.default_rng(3)
    X = rng.integers(0, 6, size=(20_000, 5)).astype(float)
    near = X[rng.choice(len(X), 300, replace=False)] + np.array([0.05, 0, 0, 0, 0])
    with pytest.raises(OutputRefused, match="lie within 0.1 x their columns' value spacing"):
        check_unseen(X, near)
    check_unseen(X, rng.uniform(-1, 6, size=(300, 5)))  # random outliers pass


@pytest.mark.parametrize("name", ["IForest", "PCA", "OCSVM", "ECOD", "LOF", "KNN"])
def test_train_scores_are_the_scores_of_the_training_rows(name):
    """Reused ``decision_scores_`` (SAME_TRAIN_SCORES) are bit for bit the rows' scores; others are scored."""
    from das.collab.enhance import SAME_TRAIN_SCORES, base_scores, train_scores

    X = np.random.default_rng(1).standard_normal((400, 5))
    det = make_detector(name, random_state=0).fit(X)
    np.testing.assert_array_equal(train_scores(det, X), base_scores(det, X))
    reused = np.shares_memory(train_scores(det, X), det.decision_scores_)
    assert reused == (name in SAME_TRAIN_SCORES)


def test_train_scores_of_a_subsampled_fit_are_scored_again():
    from das.collab.enhance import base_scores, train_scores

    X = np.random.default_rng(1).standard_normal((300, 3))
    with pytest.warns(SubsampleWarning):
        det = make_detector("OCSVM", random_state=0, max_train_rows=100).fit(X)
    np.testing.assert_array_equal(train_scores(det, X), base_scores(det, X))


def test_the_forest_skips_out_of_bag_scores_unless_collate_reads_them():
    """Out-of-bag scores cost a prediction per tree over every row: only collate pays it; sum is unchanged."""
    from das.collab.enhance import fit_enhancement

    rng = np.random.default_rng(0)
    X, X_syn = rng.standard_normal((500, 3)), rng.standard_normal((50, 3)) + 3
    det = make_detector("IForest", random_state=0).fit(X)
    plain = fit_enhancement(det, X, X_syn, fusions=("sum",))
    both = fit_enhancement(det, X, X_syn, fusions=("sum", "collate"))
    assert not hasattr(plain.classifier, "oob_decision_function_")
    assert hasattr(both.classifier, "oob_decision_function_")
    np.testing.assert_array_equal(plain.scores(X)["sum"], both.scores(X)["sum"])


def test_the_pipeline_scores_the_training_rows_once():
    """The fit's own scores of D_train feed the sum fusion: no second pass over the rows (a second fit's cost)."""
    from unittest import mock

    from das.collab import enhance, pipeline
    from das.collab.synthesis import RandomOutliers

    X = np.random.default_rng(2).standard_normal((400, 3))
    with mock.patch.object(enhance, "base_scores", wraps=enhance.base_scores) as scored:
        pipeline.fit_source(RandomOutliers(), X, "IForest")
    assert all(len(call.args[1]) != len(X) for call in scored.call_args_list)


def test_an_ensemble_records_a_run_for_each_of_its_programs(tmp_path):
    """The new-user walkthrough, M3: `auto` chose the ensemble, its certified programs ran in the
    sandbox, and das said "no run recorded (no program ran)"."""
    from das.collab.certification import _sandbox_suite_version
    from das.collab.pipeline import fit_source, record_runs
    from das.collab.synthesis import CertifiedProgram, Mixture, RandomOutliers, programs_of

    store = tmp_path / "programs.sqlite"
    sources = [JITTER.read_text(), JITTER.read_text() + "\n# the same policy, another program\n"]
    with ProgramStore(store) as st:
        shas = [st.add(src, "IForest") for src in sources]
        for sha in shas:
            st.record_verification(sha, {"borderline": 0.7}, True, _sandbox_suite_version())
    ensemble = Mixture((CertifiedProgram(sources[0], shas[0]), RandomOutliers(), CertifiedProgram(sources[1], shas[1])))
    assert programs_of(ensemble) == tuple(shas) and programs_of(RandomOutliers()) == ()
    X = np.random.default_rng(0).standard_normal((600, 4))
    fitted = fit_source(ensemble, X, "IForest", seed=0)
    assert fitted.program_sha256 is None and fitted.programs == tuple(shas)
    ids = record_runs(store, fitted, "IForest", "fp", 0, {"selection": {"choice": "ensemble"}})
    with ProgramStore(store) as st:
        assert [st.runs(sha)[-1].id for sha in shas] == ids


def test_above_fit_rows_a_programs_rows_are_checked_against_every_row_and_a_baselines_are_not(monkeypatch):
    """The run-time check on the rows a program never saw is for program output (untrusted), not
    for das's own random outliers (on 1M rows it cost 0.35 CPU s for nothing)."""
    from das.collab import pipeline
    from das.collab.enhance import FIT_ROWS

    checked = []
    monkeypatch.setattr(pipeline, "check_unseen", lambda X_all, X_syn: checked.append(len(X_all)))
    X = np.random.default_rng(5).normal(size=(FIT_ROWS + 1, 3))
    program = ("import numpy as np\n\n\ndef generate_hard_anomalies(n_samples, model, X_train):\n"
               "    return np.random.uniform(-6.0, 6.0, size=(n_samples, X_train.shape[1]))\n")
    pipeline.fit(X, "IForest", program="random")
    assert checked == []
    pipeline.fit(X, "IForest", program=program, allow_uncertified=True)
    assert checked == [FIT_ROWS + 1]
