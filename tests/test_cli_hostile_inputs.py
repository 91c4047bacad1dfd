"""Hostile inputs beyond the program's code reach the CLI: outputs, store files, bundles, reports.

Each test reproduces an attack that crashed or hung the caller, and checks its side effects:
a clean ``Error:`` line and exit code 1, no traceback, nothing stored lost.
"""
import ast
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from das.engine.cli import main
from das.program_store import ProgramStore


def invoke(*args):
    res = CliRunner().invoke(main, [str(a) for a in args])
    assert not isinstance(res.exception, Exception) or isinstance(res.exception, SystemExit), res.exc_info
    return res


def test_a_finite_1e300_in_the_output_is_a_verdict_not_a_crash(tmp_path):
    """One finite 1e300 crashed the forest's float32 conversion in the `useful` measurement."""
    program = tmp_path / "big.py"
    program.write_text(
        "import numpy as np\n\n"
        "def generate_hard_anomalies(n_samples, model, X_train):\n"
        "    lo, hi = X_train.min(axis=0), X_train.max(axis=0)\n"
        "    out = np.random.uniform(lo - 0.1 * (hi - lo), hi + 0.1 * (hi - lo), (n_samples, X_train.shape[1]))\n"
        "    out[0, 0] = 1e300\n"
        "    return out\n")
    res = invoke("programs", "add", program, "-d", "IForest")
    assert res.exit_code == 1
    assert "[FAIL] finite" in res.output and "non-finite values in float32" in res.output
    assert "verdict: REJECTED" in res.output


def _store_with_programs(n):
    with ProgramStore() as s:
        with s.transaction():
            for i in range(n):
                s.add(f"def f(): return {i}\n", "IForest")


def test_an_endless_view_in_the_store_is_refused_not_a_hang(tmp_path):
    _store_with_programs(2)
    with ProgramStore() as s:
        path = s.path
    raw = sqlite3.connect(path, isolation_level=None)
    raw.execute("PRAGMA foreign_keys=OFF")
    raw.execute("ALTER TABLE programs RENAME TO kept")
    raw.execute("CREATE VIEW programs AS WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r) "
                "SELECT * FROM kept, r WHERE i < 0")
    raw.close()
    res = invoke("programs", "list")
    assert res.exit_code == 1
    assert res.output.startswith("Error: ") and "holds a view 'programs'" in res.output
    raw = sqlite3.connect(path)
    assert raw.execute("SELECT count(*) FROM kept").fetchone()[0] == 2  # nothing stored is lost
    raw.close()


def test_a_statement_over_its_step_bound_is_a_clean_error(monkeypatch):
    from das.program_store import schema

    _store_with_programs(2000)
    monkeypatch.setattr(schema, "MAX_STATEMENT_STEPS", 20_000)
    res = invoke("programs", "list")
    assert res.exit_code == 1
    assert res.output == ("Error: program store: a query ran over 20,000 steps and was stopped "
                          "(the store file may be damaged or hostile)\n")


def _deep(depth):
    return "[" * depth + "]" * depth


def test_a_deeply_nested_bundle_is_refused_before_parsing(tmp_path):
    """`json.loads` of 100 000 nested arrays raised RecursionError out of `das programs import`."""
    bundle = tmp_path / "deep.json"
    bundle.write_text('{"format": "das-program-bundle", "format_version": 1, "programs": ' + _deep(100_000) + "}")
    res = invoke("programs", "import", bundle)
    assert res.exit_code == 1
    assert res.output.startswith("Error: cannot read bundle") and "nests 100,001 levels deep" in res.output


def test_a_bundle_that_is_not_a_regular_file_is_refused(tmp_path):
    import os

    fifo = tmp_path / "bundle.fifo"
    os.mkfifo(fifo)
    res = invoke("programs", "import", fifo)  # reading it would block forever
    assert res.exit_code == 1 and "not a regular file" in res.output


def test_an_oversized_bundle_is_refused_before_parsing(tmp_path, monkeypatch):
    from das.program_store import bundles

    monkeypatch.setattr(bundles, "MAX_BUNDLE_CHARS", 1000)
    bundle = tmp_path / "big.json"
    bundle.write_text('{"x": "' + "a" * 5000 + '"}')
    res = invoke("programs", "import", bundle)
    assert res.exit_code == 1 and "over the limit of 1,000 characters" in res.output


def _edit_store(*statements):
    with ProgramStore() as s:
        path = s.path
    raw = sqlite3.connect(path, isolation_level=None)
    for sql, params in statements:
        raw.execute(sql, params)
    raw.close()


def _verified_program():
    with ProgramStore() as s:
        sha = s.add("def f(): pass\n", "IForest", metadata={"file": "f.py"})
        s.record_verification(sha, {"hardness": 0.5, "properties": []}, passed=True, suite_version="s1")
    return sha


@pytest.mark.parametrize("command", [["programs", "list"], ["programs", "show", "SHA"], ["programs", "history", "SHA"]])
@pytest.mark.parametrize("edit, message", [
    (("UPDATE verifications SET report = ?", ('{"a": ' + _deep(100_000) + "}",)),
     "verifications row 1: column 'report' is refused: JSON nests 100,001 levels deep, more than 64"),
    (("UPDATE programs SET metadata = ?", ("[" * 70 + "]" * 70,)),
     "column 'metadata' is refused: JSON nests 70 levels deep, more than 64"),
    (("UPDATE verifications SET report = ?", (b"{}",)),
     "column 'report' is refused: expected JSON text, got bytes"),
    (("UPDATE verifications SET report = ?", ("[1, 2]",)),
     "column 'report' is refused: JSON holds list, expected dict"),
    (("UPDATE verifications SET report = ?", ('{"properties": [{"name": 1, "passed": "x"}]}',)),
     "column 'report' is refused: 'properties' is not a list of named objects"),
    (("UPDATE verifications SET report = ?", ('{"properties": [], "usefulness": {"means": {"program": "a"}}}',)),
     "column 'report' is refused: 'usefulness' does not hold the means of program, base and random"),
    (("UPDATE verifications SET report = ?", ('{"properties": [], "hardness": "high", "duration_s": 1}',)),
     "column 'report' is refused: 'hardness' is not a number"),
    (("UPDATE verifications SET report = ?", ('{"properties": [], "hardness": 1' + "0" * 400 + "}",)),
     "column 'report' is refused: 'hardness' is not a number"),
    (("UPDATE verifications SET report = ?", ('{"properties": [], "borderline": "0.5"}',)),
     "column 'report' is refused: 'borderline' is not a number"),
    (("UPDATE verifications SET report = ?", ('{"properties": [], "borderline": [1]}',)),
     "column 'report' is refused: 'borderline' is not a number"),
    (("UPDATE verifications SET report = ?", ('{"properties": [], "depth": {"a": 1}}',)),
     "column 'report' is refused: 'depth' is not a number"),
    (("UPDATE verifications SET report = ?", ('{"properties": [], "depth": NaN}',)),
     "column 'report' is refused: 'depth' is not a number"),
    (("UPDATE verifications SET report = ?", ('{"properties": [], "usefulness": {"lower_bound": "x"}}',)),
     "column 'report' is refused: 'usefulness' 'lower_bound' is not a number"),
    (("UPDATE verifications SET report = ?", ('{"properties": [], "usefulness": {"margin": true}}',)),
     "column 'report' is refused: 'usefulness' 'margin' is not a number"),
    (("UPDATE verifications SET report = ?", ('{"properties": [], "usefulness": null}',)),
     "column 'report' is refused: 'usefulness' is not an object"),
    (("UPDATE programs SET source = ?", (b"\x00\x01",)),
     "column 'source' holds bytes; the store file was edited"),
    (("UPDATE programs SET verified_hardness = ?", ("high",)),
     "column 'verified_hardness' holds str; the store file was edited"),
])
def test_a_hostile_stored_row_is_a_clean_error(command, edit, message):
    """A deep stored report raised RecursionError; a blob source or a text hardness crashed the listing."""
    sha = _verified_program()
    _edit_store(edit)
    res = invoke(*[sha if arg == "SHA" else arg for arg in command])
    assert res.exit_code == 1 and res.output.startswith("Error: ") and message in res.output, res.output
    with ProgramStore() as s:  # nothing stored is lost: the rows are still there, as edited
        assert s.db.execute("SELECT count(*) FROM verifications").fetchone()[0] == 1


@pytest.mark.filterwarnings("ignore::das.collab.certification.UncertifiedProgramWarning")
@pytest.mark.parametrize("value", [1e300, np.inf])
def test_the_estimator_refuses_outputs_beyond_float32_as_a_synthesis_error(value):
    """`EnhancedDetector.fit` crashed in the forest's float32 conversion (ValueError from sklearn)."""
    from das import EnhancedDetector
    from das.collab.enhance import SynthesisError

    source = ("def generate_hard_anomalies(n_samples, model, X_train):\n"
              f"    out = X_train[:n_samples] + 5.0\n    out[0, 0] = {value!r}\n    return out\n").replace("inf", "float('inf')")
    X = np.random.default_rng(0).normal(size=(200, 4))
    with pytest.raises(SynthesisError, match="non-finite values in float32"):
        EnhancedDetector(detector="IForest", program=source, allow_uncertified=True).fit(X)
    edge = source.replace(repr(value), "3.0e38").replace("float('inf')", "3.0e38")  # float32-representable: runs
    fitted = EnhancedDetector(detector="IForest", program=edge, allow_uncertified=True).fit(X)
    assert np.isfinite(fitted.decision_function(X)).all()


@pytest.mark.parametrize("command", [["programs", "list"], ["programs", "history", "SHA"]])
@pytest.mark.parametrize("column, value", [("created_at", None), ("detector", None), ("parent_sha256", b"\x01")])
def test_a_row_without_its_constraints_is_a_clean_error(command, column, value):
    """A store file can drop NOT NULL: a NULL created_at or detector crashed the listing."""
    sha = _verified_program()
    with ProgramStore() as s:
        child = s.add("def g(): pass\n", "IForest", parent_sha256=sha)
    _edit_store(("PRAGMA foreign_keys=OFF", ()), ("CREATE TABLE loose AS SELECT * FROM programs", ()),
                ("DROP TABLE programs", ()), ("ALTER TABLE loose RENAME TO programs", ()),
                (f"UPDATE programs SET {column} = ? WHERE sha256 = ?", (value, child)))
    res = invoke(*[child if arg == "SHA" else arg for arg in command])
    assert res.exit_code == 1, res.output
    assert res.output.startswith("Error: programs row") and f"column {column!r} holds" in res.output


def test_an_oversized_stored_json_value_is_refused_before_parsing(monkeypatch):
    from das.program_store import records

    sha = _verified_program()
    monkeypatch.setattr(records, "MAX_STORED_JSON_CHARS", 1000)
    _edit_store(("UPDATE programs SET metadata = ?", ('{"file": "' + "a" * 2000 + '"}',)))
    res = invoke("programs", "show", sha)
    assert res.exit_code == 1 and "column 'metadata' is refused: JSON text of 2,012 characters" in res.output


def test_nesting_depth_is_linear_on_unterminated_strings():
    """The quadratic tokenizer rescanned an unterminated string from every quote (64 KB held 33 s)."""
    from das.program_store.jsontext import nesting_depth

    assert nesting_depth('"\\"' * 2_000_000 + "[[") == 0  # all one unterminated string
    assert nesting_depth('"abc [[') == 0 and nesting_depth('[{"a": "]]"}]') == 2
    assert nesting_depth('{"a": "[[x", "b": [[{"c": "\\"]"}]]}') == 4


# OSC 52 (set the clipboard), a window title, cursor up + erase line, a carriage return, and a
# bidi override: each lets a stored program show a reviewer something other than what it is.
_TERMINAL_ATTACKS = ("\x1b]52;c;cm0gLXJmIH4=\x07", "\x1b]0;innocent\x07", "\x1b[1A\x1b[2K", "\r",
                     "\u202e", "\u2066", "\x9b31m", "\u200b")


def _stored_hostile_program():
    attack = "".join(_TERMINAL_ATTACKS)
    with ProgramStore() as s:
        sha = s.add(f"def f():\n    return 1  # {attack}\n", f"IF{attack}", policy=f"fine{attack}",
                    prompt_variant=f"v{attack}", backend=f"b{attack}", model=f"m{attack}")
        s.record_verification(sha, {"hardness": 0.5, "detail": attack, "properties": [
            {"name": f"p{attack}", "passed": True, "value": attack, "threshold": None, "detail": attack}]},
            passed=True, suite_version=f"s{attack}")
    return sha


@pytest.mark.parametrize("command", [["programs", "show", "SHA"], ["programs", "list"],
                                     ["programs", "history", "SHA"], ["programs", "revoke", "SHA", "--reason", "x"]])
def test_terminal_output_shows_controls_as_escapes(command):
    """`das programs show/list` printed source, policy and prompt_variant raw to the reviewer's terminal."""
    sha = _stored_hostile_program()
    res = invoke(*[sha if arg == "SHA" else arg for arg in command])
    assert res.exit_code == 0, res.output
    from das.sandbox.untrusted import CONTROLS

    assert CONTROLS.search(res.output) is None  # nothing reaches the terminal but text, tab and newline
    if command[1] in ("show", "list"):
        assert "\\x1b]52;c;cm0gLXJmIH4=\\x07" in res.output and "\\u202e" in res.output


def test_error_messages_show_controls_as_escapes(tmp_path):
    from das.sandbox.untrusted import CONTROLS

    res = invoke("programs", "import", tmp_path / "\x1b]0;title\x07.json")
    assert res.exit_code != 0 and CONTROLS.search(res.output) is None
    assert "\\x1b]0;title\\x07.json" in res.output


def test_controls_cover_every_unicode_control_and_format_character():
    import sys
    import unicodedata

    from das.sandbox.untrusted import CONTROLS, show_controls

    hidden = [chr(c) for c in range(sys.maxunicode + 1)
              if unicodedata.category(chr(c)) in ("Cc", "Cf", "Zl", "Zp", "Cs") and chr(c) not in "\t\n"]
    assert [c for c in hidden if not CONTROLS.fullmatch(c)] == []
    assert show_controls("a\tb\nc\x1b\u202e\U000e0041é") == "a\tb\nc\\x1b\\u202e\\U000e0041é"


def _escaped_or_constant(arg):
    if isinstance(arg, ast.Call) and isinstance(arg.func, ast.Name) and arg.func.id == "show_controls":
        return True
    if isinstance(arg, ast.IfExp):
        return _escaped_or_constant(arg.body) and _escaped_or_constant(arg.orelse)
    return all(isinstance(n, (ast.Constant, ast.BinOp, ast.operator)) for n in ast.walk(arg))


def test_every_cli_text_output_goes_through_the_escaping_echo():
    """A raw ``click.echo`` of anything but constant text would bypass :func:`echo`'s escaping."""
    import das.engine.cli as cli

    raw = []
    for path in sorted(Path(cli.__file__).parent.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in ("echo", "secho", "echo_via_pager")
                    and isinstance(node.func.value, ast.Name) and node.func.value.id == "click"
                    and not (node.args and _escaped_or_constant(node.args[0]))):
                raw.append(f"{path.name}:{node.lineno}")
    assert raw == []


def _hostile_bundle(tmp_path, edit):
    """A bundle of one exported program after ``edit(program)``, with every hash recomputed."""
    import json

    from das.program_store import export_bundle
    from das.program_store.hashing import record_sha256, source_sha256

    with ProgramStore(tmp_path / "source.sqlite") as s:
        sha = s.add("def generate_hard_anomalies(n, model, X):\n    return X[:n]\n", "PCA", policy="p")
        out = tmp_path / "b.json"
        export_bundle(s, out, shas=[sha])
    bundle = json.loads(out.read_text())
    entry = bundle["programs"][0]
    edit(entry["program"])
    body = {"program": entry["program"], "verifications": entry["verifications"]}
    try:
        if isinstance(body["program"].get("source"), str):
            body["program"]["sha256"] = source_sha256(body["program"]["source"])
        entry["record_sha256"] = record_sha256(body)
        bundle["bundle_sha256"] = record_sha256(bundle["programs"])
    except UnicodeEncodeError:  # a lone surrogate has no hash: the attacker leaves the old ones
        pass
    out.write_text(json.dumps(bundle))
    return out


@pytest.mark.parametrize("edit, message", [
    (lambda p: p.update(policy="\ud800"), "holds text that is not valid Unicode (a lone surrogate)"),
    (lambda p: p.update(source="def f():\n    return '\udfff'\n"), "not valid Unicode (a lone surrogate)"),
    (lambda p: p.pop("detector"), "entry 0 is malformed ('detector' is missing or not text)"),
    (lambda p: p.update(detector=["PCA"]), "entry 0 is malformed ('detector' is missing or not text)"),
    (lambda p: p.update(source=None), "entry 0 is malformed ('source' is missing or not text)"),
    (lambda p: p.update(model=7), "entry 0 is malformed ('model' is not text)"),
    (lambda p: p.update(policy={"a": 1}), "entry 0 is malformed ('policy' is not text)"),
    (lambda p: p.update(metadata=[1]), "entry 0 is malformed ('metadata' is not an object)"),
    (lambda p: p.update(detector="\x1b[2JFOO\u202e"), "unknown detector '\\x1b[2JFOO\\u202e'"),
    (lambda p: p.update(detector="pca"), "unknown detector 'pca'"),
])
def test_a_hostile_bundle_entry_is_refused_and_nothing_is_stored(tmp_path, edit, message):
    """A lone surrogate crashed the hashing, a missing detector raised KeyError and an unknown
    detector left its program stored although the import failed."""
    res = invoke("programs", "import", _hostile_bundle(tmp_path, edit))
    assert res.exit_code == 1 and res.output.startswith("Error: ") and message in res.output, res.output
    with ProgramStore() as s:
        assert s.list() == []


@pytest.mark.parametrize("header", ["a,a ,b,label", "a,a,b,label", " b,a,b ,label", "a,b,label,label"])
def test_column_names_that_collide_after_trimming_are_a_clean_error(tmp_path, header):
    """`a` and `a ` became one name after trimming: the loader crashed with AttributeError."""
    data = tmp_path / "dup.csv"
    data.write_text(header + "\n" + "\n".join(f"{i},{i + 1},{i + 2},0" for i in range(5)) + "\n")
    res = invoke("data", "info", data)
    assert res.exit_code == 1 and res.output.startswith("Error: ") and "duplicate column name(s)" in res.output


def test_parquet_column_names_that_collide_after_trimming_are_a_clean_error(tmp_path):
    import pandas as pd

    data = tmp_path / "dup.parquet"
    pd.DataFrame([[1.0, 2.0, 0], [2.0, 3.0, 0]], columns=["a", "a ", "label"]).to_parquet(data)
    res = invoke("data", "info", data)
    assert res.exit_code == 1 and "duplicate column name(s) 'a'" in res.output, res.output


def _big_csv(tmp_path, value, rows=40):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(rows, 3))
    X[:, 0] = np.abs(X[:, 0]) * value  # one sign: a check of one sign only is caught
    data = tmp_path / "big.csv"
    data.write_text("a,b,c,label\n" + "\n".join(",".join(map(repr, r)) + ",0" for r in X.tolist()) + "\n")
    return data


@pytest.mark.parametrize("value", [1e200, 1e160, -1e300])
def test_finite_values_whose_squares_overflow_are_refused_when_read(tmp_path, value):
    """1e200 columns scaled to NaN (a traceback); one 1e300 cell made PCA score every row 0.0."""
    res = invoke("score", "--data", _big_csv(tmp_path, value), "-d", "PCA", "--program", "none",
                 "--out", tmp_path / "s.csv")
    assert res.exit_code == 1 and res.output.startswith("Error: ") and "magnitude above 1e+150" in res.output
    assert not (tmp_path / "s.csv").exists()


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_a_detector_input_error_is_one_line(tmp_path, monkeypatch):
    from das.collab import data

    monkeypatch.setattr(data, "MAX_ABS_FEATURE", np.inf)  # let the overflow reach the detector
    res = invoke("score", "--data", _big_csv(tmp_path, 1e200), "-d", "PCA", "--program", "none",
                 "--out", tmp_path / "s.csv")
    assert res.exit_code == 1 and res.output.splitlines()[-1] == "Error: Input contains NaN.", res.output


@pytest.mark.parametrize("command", [["programs", "add", "FILE", "-d", "PCA"], ["audit", "FILE", "-d", "PCA"]])
@pytest.mark.parametrize("text", ["def f(x):\n    return x\n" * 10_000, "```python\n" * 25_000])
def test_a_program_file_over_the_size_limit_is_refused_before_extraction(tmp_path, command, text):
    """100 000 top-level defs hung `das programs add`; 100 000 fences took `das audit` 29 s."""
    program = tmp_path / "big.py"
    program.write_text(text)
    res = invoke(*[program if arg == "FILE" else arg for arg in command])
    assert res.exit_code == 1 and res.output == f"Error: program file {program} is over the limit of 200,000 bytes\n"
    with ProgramStore() as s:
        assert s.list() == []


@pytest.mark.parametrize("args", [
    ["enhance", "--lam", "-1", "--program", "certified"], ["enhance", "--lam", "nan"], ["score", "--lam", "inf"],
    ["enhance", "--seed", "-5", "--program", "none"], ["score", "--seed", "99999999999"], ["select", "--seed", "-1"],
    ["demo", "--base-only", "--seed", "-1"],
])
def test_a_weight_or_seed_out_of_range_is_a_usage_error(tmp_path, args):
    """The new-user walkthrough: these gave a traceback (enhance, score) or a "keep base" decision
    with exit 0 (select); they are refused before anything runs."""
    data = tmp_path / "d.npz"
    np.savez(data, X=np.random.default_rng(0).normal(size=(40, 3)), y=np.r_[np.zeros(36), np.ones(4)])
    extra = [] if args[0] == "demo" else ["--data", data, "--store", tmp_path / "s.sqlite"]
    res = invoke(*args, "-d", "IForest", *extra)
    assert res.exit_code == 2 and "Invalid value for '--" in res.output
    assert not (tmp_path / "s.sqlite").exists()
