"""``das store path``: the store file every command uses, and the README's sqlite-utils examples."""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from das.engine.cli import main
from das.program_store import ProgramStore

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def test_store_path_follows_store_then_das_store_then_das_home(tmp_path, monkeypatch):
    monkeypatch.delenv("DAS_STORE", raising=False)
    monkeypatch.setenv("DAS_HOME", str(tmp_path / "home"))
    assert CliRunner().invoke(main, ["store", "path"]).output == f"{tmp_path / 'home' / 'programs.sqlite'}\n"
    monkeypatch.setenv("DAS_STORE", str(tmp_path / "env.sqlite"))
    assert CliRunner().invoke(main, ["store", "path"]).output.strip() == str(tmp_path / "env.sqlite")
    res = CliRunner().invoke(main, ["store", "path", "--store", str(tmp_path / "flag.sqlite"), "--json"])
    assert json.loads(res.output) == {"path": str(tmp_path / "flag.sqlite"), "exists": False}


def test_the_readme_sqlite_utils_examples_run_on_the_store_das_uses(tmp_path):
    block = re.search(r"opens in the `sqlite-utils` CLI.*?```bash\n(.*?)```", README, re.S).group(1)
    assert "das store path" in block and ".local/share" not in block
    env = dict(os.environ, DAS_HOME=str(tmp_path), PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    env.pop("DAS_STORE", None)
    with ProgramStore(tmp_path / "programs.sqlite") as st:
        st.add("def generate_hard_anomalies(n_samples, model, X_train):\n    return X_train\n", "IForest")
    first = block.strip().splitlines()[0]
    out = subprocess.run(["bash", "-c", first], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert {"table": "programs", "count": 1} in json.loads(out.stdout), out.stdout
