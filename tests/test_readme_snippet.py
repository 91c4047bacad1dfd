"""The README's Python snippet runs as written on a fresh machine (empty DAS_HOME)."""
import re
from pathlib import Path

import numpy as np

from das.collab.estimator import EnhancedDetector
from das.program_store import ProgramStore

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def _python_snippets():
    return re.findall(r"```python\n(.*?)```", README, flags=re.S)


def test_readme_snippet_runs_on_an_empty_store(isolated_home):
    [snippet] = [s for s in _python_snippets() if "EnhancedDetector(" in s]
    assert not isolated_home.exists()  # nothing certified yet: first use certifies the bundled programs
    namespace = {}
    exec(compile(snippet, "README.md", "exec"), namespace)
    scores, X_test = namespace["scores"], namespace["X_test"]
    assert scores.shape == (len(X_test),) and np.all(np.isfinite(scores))
    with ProgramStore() as store:
        assert store.default("IForest") is not None


def test_a_detector_without_a_certified_program_refuses_certified_and_auto_still_works(rng, certified_store,
                                                                                      monkeypatch):
    # Whether a bundled DRL program certifies depends on the verification's drawn seed; the
    # premise is made here: every DRL program in the session's store is revoked.
    import pytest

    from das.program_store import NotCertified

    with ProgramStore(certified_store) as store:
        for record in store.list(detector="DRL"):
            if record.status != "revoked":
                store.revoke(record.sha256, "test: a detector without a certified program")
    monkeypatch.setenv("DAS_STORE", str(certified_store))
    X = rng.normal(size=(60, 3))
    with pytest.raises(NotCertified):
        EnhancedDetector(detector="DRL", program="certified").fit(X)
    est = EnhancedDetector(detector="DRL").fit(X)  # program="auto": none or random outliers
    assert est.decision_function(rng.normal(size=(5, 3))).shape == (5,)
    assert est.selection_["choice"] in ("none", "random")
