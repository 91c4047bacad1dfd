"""``das select``: the auto choice and its table, labels never read."""
import json

import numpy as np
from click.testing import CliRunner

from das.collab.certification import suite_version
from das.engine.cli import main
from das.program_store import ProgramStore
from tests.test_collab_estimator import HONEST


def _store_with_a_certified_program(tmp_path):
    store = tmp_path / "s.sqlite"
    with ProgramStore(store) as st:
        sha = st.add(HONEST, "IForest")
        st.record_verification(sha, {"borderline": 0.5}, passed=True, suite_version=suite_version())
    return store, sha


def test_select_prints_the_table(tmp_path, rng):
    store, sha = _store_with_a_certified_program(tmp_path)
    np.savez(tmp_path / "d.npz", X=rng.normal(size=(400, 4)), y=np.r_[np.zeros(380), np.ones(20)])
    args = ["select", "--data", str(tmp_path / "d.npz"), "-d", "iforest", "--store", str(store)]
    text, as_json = CliRunner().invoke(main, args), CliRunner().invoke(main, args + ["--json"])
    assert text.exit_code == 0, text.output
    assert "choice:" in text.output and f"program:{sha[:12]}" in text.output and "dependency" in text.output
    assert "expected gain" in text.output and "decision:" in text.output
    res = json.loads(as_json.output)
    assert res["detector"] == "IForest" and res["n_train"] == 190
    assert [r["candidate"] for r in res["table"]][::4] == ["random", f"program:{sha[:12]}", "ensemble"]
    if res["lam"] is not None:
        assert f"*{res['choice']}{res['lam']:g}" in text.output.replace(" ", "")
    else:
        assert res["choice"] == "none" and "*" not in text.output
    assert res["expected_gain"]["choice"] == res["choice"]  # walkthrough 3, L1: "none" here, "base" there


def test_enhance_explain_prints_the_auto_table(tmp_path, rng):
    store, _ = _store_with_a_certified_program(tmp_path)
    np.savez(tmp_path / "d.npz", X=rng.normal(size=(300, 3)), y=np.r_[np.zeros(280), np.ones(20)])
    res = CliRunner().invoke(main, ["enhance", "--data", str(tmp_path / "d.npz"), "-d", "IForest",
                                    "--store", str(store), "--explain"])
    assert res.exit_code == 0, res.output
    assert "choice:" in res.output and "random" in res.output and "AUC-PR" in res.output


def test_enhance_and_score_say_what_auto_chose_the_same_way(tmp_path, rng):
    import re

    store, _ = _store_with_a_certified_program(tmp_path)
    np.savez(tmp_path / "d.npz", X=rng.normal(size=(300, 3)), y=np.r_[np.zeros(280), np.ones(20)])
    common = ["--data", str(tmp_path / "d.npz"), "-d", "IForest", "--store", str(store), "--explain"]
    for command in (["enhance"], ["score", "--out", str(tmp_path / "s.csv")]):
        res = CliRunner().invoke(main, command + common)
        assert res.exit_code == 0, res.output
        said = re.search(r"auto (chose (\S+) \(lambda (\S+)\)|kept the base detector),", res.output)
        starred = re.search(r"^\* (\S+)\s+(\S+)", res.output, re.M)  # the --explain table's mark
        if said.group(2) is None:
            assert starred is None and "decision: keep base" in res.output, res.output
        else:
            assert said.group(2, 3) == starred.group(1, 2), res.output
    res = CliRunner().invoke(main, ["score", "--out", str(tmp_path / "s.csv"), "--json"] + common[:-1])
    selection = json.loads(res.output)["selection"]
    assert selection["choice"] in [row["candidate"] for row in selection["table"]] + ["none"]


def test_a_labels_file_that_does_not_exist_is_a_usage_error(tmp_path):
    np.savez(tmp_path / "d.npz", X=np.ones((6, 2)), y=np.zeros(6))
    for command in (["select"], ["enhance"], ["score", "--out", str(tmp_path / "s.csv")]):
        res = CliRunner().invoke(main, [*command, "--data", str(tmp_path / "d.npz"), "-d", "IForest",
                                        "--labels", str(tmp_path / "known.txt")])
        assert res.exit_code == 2 and "'--labels': File" in res.output and "does not exist" in res.output, res.output
    assert not (tmp_path / "s.csv").exists()
