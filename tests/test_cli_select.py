"""``das select``: the auto choice and its table, labels never read."""
import json

import numpy as np
from click.testing import CliRunner

from engine.cli import main
from program_store import ProgramStore
from sandbox import SUITE_VERSION
from tests.test_collab_estimator import HONEST


def test_select_prints_the_table(tmp_path, rng):
    store = tmp_path / "s.sqlite"
    with ProgramStore(store) as st:
        sha = st.add(HONEST, "IForest")
        st.record_verification(sha, {"hardness": 0.5}, passed=True, suite_version=SUITE_VERSION)
    np.savez(tmp_path / "d.npz", X=rng.normal(size=(400, 4)), y=np.r_[np.zeros(380), np.ones(20)])
    args = ["select", "--data", str(tmp_path / "d.npz"), "-d", "iforest", "--store", str(store)]
    text, as_json = CliRunner().invoke(main, args), CliRunner().invoke(main, args + ["--json"])
    assert text.exit_code == 0, text.output
    assert "choice:" in text.output and f"program:{sha[:12]}" in text.output and "dependency" in text.output
    res = json.loads(as_json.output)
    assert res["detector"] == "IForest" and res["n_train"] == 190
    assert [r["candidate"] for r in res["table"]] == ["none", "random", f"program:{sha[:12]}"]
    assert f"*{res['choice']}" in text.output.replace(" ", "")
