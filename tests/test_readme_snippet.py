"""The README's Python snippet runs as written on a fresh machine (empty DAS_HOME)."""
import re
from pathlib import Path

import numpy as np
import pytest

from das.collab.estimator import EnhancedDetector
from das.program_store import ProgramStore

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def _python_snippets():
    return re.findall(r"```python\n(.*?)```", README, flags=re.S)


@pytest.mark.parametrize("store_kind", ["certified", "none certified"])
def test_readme_snippet_runs_as_written(certified_store, tmp_path, monkeypatch, store_kind):
    """The snippet as written (program="auto"), whatever the first-use draw certified: on a store with
    the bundled IForest programs certified, and on one where none is (all revoked, nothing verified)."""
    from das.collab.certification import BUNDLED_PROGRAMS
    from das.program_store import import_bundle

    store = certified_store
    if store_kind == "none certified":
        store = tmp_path / "none.sqlite"
        with ProgramStore(store) as st:
            for entry in import_bundle(st, BUNDLED_PROGRAMS, detector="IForest"):
                st.revoke(entry["sha256"], "test: a draw that certified no IForest program")
    [snippet] = [s for s in _python_snippets() if "EnhancedDetector(" in s]
    monkeypatch.setenv("DAS_STORE", str(store))
    namespace = {}
    exec(compile(snippet, "README.md", "exec"), namespace)
    scores, X_test = namespace["scores"], namespace["X_test"]
    assert scores.shape == (len(X_test),) and np.all(np.isfinite(scores))


def test_a_detector_without_a_certified_program_refuses_certified_and_auto_still_works(rng):
    """The premise, made without verifying anything: every bundled DRL program is in the store, revoked."""
    from das.collab.certification import BUNDLED_PROGRAMS
    from das.program_store import NotCertified, import_bundle

    with ProgramStore() as store:
        for entry in import_bundle(store, BUNDLED_PROGRAMS, detector="DRL"):
            store.revoke(entry["sha256"], "test: a detector without a certified program")
        assert store.list(detector="DRL") and not store.list(detector="DRL", status="certified")
    X = rng.normal(size=(60, 3))
    with pytest.raises(NotCertified):
        EnhancedDetector(detector="DRL", program="certified").fit(X)
    est = EnhancedDetector(detector="DRL").fit(X)  # program="auto": none or random outliers
    assert est.decision_function(rng.normal(size=(5, 3))).shape == (5,)
    assert est.selection_["choice"] in ("none", "random")
    with ProgramStore() as store:
        assert all(len(store.verifications(r.sha256)) == 0 for r in store.list(detector="DRL"))  # none re-verified
