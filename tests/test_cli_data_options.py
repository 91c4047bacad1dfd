"""One set of data options on every command that reads data; options checked before any work."""
import importlib

import numpy as np
import pytest
from click.testing import CliRunner

from das.engine.cli import main
from das.engine.cli._common import DATA_OPTION_NAMES

READS_DATA = [("data", "info"), ("data", "list"), ("enhance",), ("score",), ("select",), ("bench",), ("report",)]


def _command(path):
    command = main
    for name in path:
        command = command.commands[name]
    return command


@pytest.mark.parametrize("path", READS_DATA, ids=" ".join)
def test_every_command_that_reads_data_has_the_data_options(path):
    names = {p.name for p in _command(path).params}
    assert set(DATA_OPTION_NAMES) <= names, f"das {' '.join(path)} lacks {set(DATA_OPTION_NAMES) - names}"


def test_select_reads_the_data_with_the_options_given(monkeypatch, tmp_path):
    pipeline = importlib.import_module("das.collab.pipeline")
    seen = {}

    def fake_select(data, detector, *, seed, store, read, labels=None):
        seen.update(data=str(data), read=read)
        return {"dataset": "d", "detector": detector, "n_train": 1, "choice": "none", "seconds": 0.0,
                "fallback": None, "table": []}

    monkeypatch.setattr(pipeline, "select_dataset", fake_select)
    (tmp_path / "d.tsv").write_text("a\tb\n1,5\t2\n")
    res = CliRunner().invoke(main, ["select", "--data", "d", "--data-dir", str(tmp_path), "-d", "iforest",
                                    "--decimal", ",", "--id-column", "a", "--missing", "mean"])
    assert res.exit_code == 0, res.output
    assert seen["data"] == str(tmp_path / "d.tsv")
    assert seen["read"]["decimal"] == "," and seen["read"]["id_column"] == "a" and seen["read"]["missing"] == "mean"


def test_bench_cells_read_their_data_with_the_options_given(monkeypatch, tmp_path):
    runner = importlib.import_module("das.collab.bench.runner")
    seen = {}

    def fake_run(out_dir, datasets, *args, read, **kwargs):
        seen["read"] = read
        return {"out": str(out_dir), "log": "l", "n_cells": 0, "n_cached": 0, "n_run": 0, "n_ok": 0,
                "n_failed": 0, "wall_s": 0.0, "run": {}, "failures": []}

    monkeypatch.setattr(runner, "run_benchmark", fake_run)
    (tmp_path / "d.csv").write_text("a;b;class\n1,5;2;0\n2,5;3;0\n9,5;9;1\n")
    res = CliRunner().invoke(main, ["bench", "-d", "ECOD", "--data", str(tmp_path / "d.csv"), "--methods", "base",
                                    "--out-dir", str(tmp_path / "out"), "--sep", ";", "--decimal", ",",
                                    "--label-column", "class"])
    assert res.exit_code == 0, res.output
    assert seen["read"]["sep"] == ";" and seen["read"]["decimal"] == "," and seen["read"]["label_column"] == "class"


def test_a_bench_cell_loads_its_file_with_the_read_options(tmp_path):
    from das.collab.bench.grid import evaluate_cell, make_cells

    rows = "\n".join(f"{i % 7},{(i * 3) % 11};{int(i % 25 == 0)}" for i in range(1, 120))
    (tmp_path / "d.csv").write_text("a;cls\n" + rows + "\n")  # decimal commas, ; between fields
    cells = make_cells([("d", str(tmp_path / "d.csv"))], ["ECOD"], [0], ("base",), protocol="p",
                       read={"sep": ";", "decimal": ",", "label_column": "cls", "missing": "error"})
    assert dict(cells[0].read) == {"sep": ";", "decimal": ",", "label_column": "cls"}  # defaults left out
    plain = make_cells([("d", str(tmp_path / "d.csv"))], ["ECOD"], [0], ("base",), protocol="p")
    assert plain[0].read == () and plain[0].key() != cells[0].key()
    result = evaluate_cell(cells[0])
    assert 0 <= result["metrics"]["base"]["auc_roc"] <= 1


def test_data_info_reads_a_decimal_comma_tsv(tmp_path):
    (tmp_path / "d.tsv").write_text("CustomerID\ta\tb\tlabel\n" +
                                    "".join(f"c{i}\t{i},5\t{i % 3},25\t{int(i == 4)}\n" for i in range(10)))
    res = CliRunner().invoke(main, ["data", "info", str(tmp_path / "d.tsv"), "--decimal", ","])
    assert res.exit_code == 0, res.output
    assert "10 x 2" in res.output and "'CustomerID' taken as the id" in res.output


def test_score_without_out_is_a_usage_error_before_any_work(monkeypatch, tmp_path):
    pipeline = importlib.import_module("das.collab.pipeline")
    monkeypatch.setattr(pipeline, "score_dataset", lambda *a, **k: pytest.fail("the fit ran before --out was checked"))
    np.savez(tmp_path / "d.npz", X=np.ones((4, 2)), y=np.zeros(4))
    res = CliRunner().invoke(main, ["score", "--data", str(tmp_path / "d.npz"), "-d", "ECOD"])
    assert res.exit_code == 2 and "Missing option '--out'" in res.output


@pytest.mark.parametrize("command", [["score", "--out", "OUT"], ["enhance"], ["select"]])
def test_a_one_row_csv_is_one_clean_line(tmp_path, command):
    (tmp_path / "one.csv").write_text("a,b,c\n1,2,3\n")
    args = [a.replace("OUT", str(tmp_path / "s.csv")) for a in command]
    res = CliRunner().invoke(main, [*args, "--data", str(tmp_path / "one.csv"), "-d", "IForest",
                                    "--store", str(tmp_path / "s.sqlite")])
    assert res.exit_code == 1, res.output
    output = res.output  # the first-use line never comes before a refused file's error
    assert output.startswith("Error: ") and len(output.strip().splitlines()) == 1
    assert "1 data row(s)" in res.output and not (tmp_path / "s.csv").exists()


@pytest.mark.parametrize("option, value", [("--sep", ",,"), ("--sep", "ab"), ("--decimal", "ab"), ("--decimal", "")])
def test_separator_and_decimal_mark_are_one_character(tmp_path, option, value):
    """pandas refused longer ones with a traceback; now a usage error, before any reading."""
    path = tmp_path / "t.csv"
    path.write_text("a,b,label\n1,2,0\n3,4,0\n5,6,1\n")
    res = CliRunner().invoke(main, ["data", "info", str(path), option, value])
    assert res.exit_code == 2 and "expected one character" in res.output and "Traceback" not in res.output


def test_a_spreadsheet_export_reads_with_its_encoding_and_no_pandas_warning(tmp_path):
    """The new-user walkthrough, M4: Excel's sep= line, a separator ending every line, Windows-1252."""
    path = tmp_path / "x.csv"
    rows = "".join(f"{i};{i % 3};{int(i == 4)};\n" for i in range(10))
    path.write_bytes(("sep=;\nGröße;b;label;\n" + rows).encode("cp1252"))
    res = CliRunner().invoke(main, ["data", "info", str(path)])
    assert res.exit_code == 1 and "pass --encoding cp1252" in res.output and "Traceback" not in res.output
    res = CliRunner().invoke(main, ["data", "info", str(path), "--encoding", "cp1252", "--json"])
    assert res.exit_code == 0, res.output
    assert res.stderr.strip() == "Warning: x.csv: column(s) Unnamed: 3 with no name and no value dropped " \
                                 "(a separator at the end of every line?)"
    assert '"d": 2' in res.stdout


@pytest.mark.parametrize("args, message", [
    (["--label-column", "a", "--drop", "a"], "--label-column a and --drop a name the same column"),
    (["--drop", "b,a", "--id-column", "a"], "--id-column a and --drop a name the same column"),
    (["--label-column", "a", "--id-column", "a"], "--label-column a and --id-column a name the same column"),
])
def test_a_column_given_two_roles_is_a_usage_error(tmp_path, args, message):
    """The new-user walkthrough, L1: the conflict was accepted silently."""
    path = tmp_path / "t.csv"
    path.write_text("a,b,label\n1,2,0\n3,4,0\n5,6,1\n")
    res = CliRunner().invoke(main, ["data", "info", str(path), *args])
    assert res.exit_code == 2 and message in res.output and "Traceback" not in res.output


@pytest.mark.parametrize("text, decimal, thousands, hint", [
    ('a,b,label\n"1,234.5",2,0\n"2,345.5",3,0\n"1,111.5",2,0\n9,9,1\n', ".", ",", "pass --thousands ,"),
    ("a;b;label\n1 234,5;2;0\n2 345,5;3;0\n1 111,5;2;0\n9;9;1\n", ",", " ", "pass --thousands ' '"),
    ("a;b;label\n1.234,5;2;0\n2.345,5;3;0\n1.111,5;2;0\n9;9;1\n", ",", ".", "pass --thousands ."),
])
def test_thousands_separators_are_suggested_and_read_with_thousands(tmp_path, text, decimal, thousands, hint):
    """The new-user walkthrough: numbers with thousands separators were refused as text, with no way to read them."""
    from das.collab.data import load_dataset

    path = tmp_path / "t.csv"
    path.write_text(text)
    res = CliRunner().invoke(main, ["data", "info", str(path), "--decimal", decimal])
    assert res.exit_code == 1 and "at line 2, column 'a'" in res.output and hint in res.output, res.output
    res = CliRunner().invoke(main, ["data", "info", str(path), "--decimal", decimal, "--thousands", thousands])
    assert res.exit_code == 0, res.output
    assert load_dataset(path, decimal=decimal, thousands=thousands).X[:, 0].tolist() == [1234.5, 2345.5, 1111.5, 9.0]


def test_a_thousands_separator_equal_to_the_decimal_mark_is_a_usage_error(tmp_path):
    """Walkthrough 3, M10: `--thousands .` without `--decimal ,` exited 1 with no way forward."""
    path = tmp_path / "t.csv"
    path.write_text("a;b;label\n1.234,5;2;0\n9;9;1\n")
    res = CliRunner().invoke(main, ["data", "info", str(path), "--thousands", "."])
    assert res.exit_code == 2 and "pass --decimal , too" in res.output, res.output


@pytest.mark.parametrize("options, said, not_said", [
    (["--decimal", ","], "',' seems to separate the fields but is also the decimal mark given (--decimal)",
     "pass --sep)"),
    (["--sep", ";"], "the separator ';' given did not split the line; is it ','?", "pass --sep"),
])
def test_a_line_left_whole_says_why(tmp_path, options, said, not_said):
    """The decimal mark as the file's separator, or a --sep given that did not split: said, not 'pass --sep'."""
    path = tmp_path / "c.csv"
    path.write_text("a,b,label\n1.5,2.5,0\n1.7,2.1,0\n9,9,1\n")
    res = CliRunner().invoke(main, ["data", "info", str(path), *options])
    assert res.exit_code == 1 and said in res.output and not_said not in res.output, res.output


@pytest.mark.parametrize("space", ["\u00a0", "\u202f"], ids=["no-break space", "narrow no-break space"])
def test_no_break_space_thousands_are_read_with_thousands_space(tmp_path, space):
    """Walkthrough 3, M2: French/Excel exports group thousands with U+00A0 or U+202F; `--thousands ' '`
    (the hint) did not read them and the same hint came back (U+202F: "text?")."""
    from das.collab.data import load_dataset

    path = tmp_path / "t.csv"
    path.write_text(f"a;b;label\n1{space}234,5;2;0\n2{space}345,5;3;0\n1 111,5;2;0\n9;9;1\n", encoding="utf-8")
    res = CliRunner().invoke(main, ["data", "info", str(path), "--decimal", ","])
    assert res.exit_code == 1 and "pass --thousands ' '" in res.output, res.output
    for thousands in (" ", space):
        res = CliRunner().invoke(main, ["data", "info", str(path), "--decimal", ",", "--thousands", thousands])
        assert res.exit_code == 0, res.output
        assert load_dataset(path, decimal=",", thousands=thousands).X[:, 0].tolist() == [1234.5, 2345.5, 1111.5, 9.0]


def test_a_thousands_hint_never_names_the_option_given(tmp_path):
    """Walkthrough 3, M2: the hint suggested the --thousands the user had just passed."""
    from das.collab.data import _text_hint

    assert "--thousands" not in _text_hint("1\u00a0880,00", False, ",", None, thousands="\u202f")
    assert "pass --thousands ' '" in _text_hint("1\u00a0880,00", False, ",", None)


def test_quoted_decimal_commas_in_a_comma_separated_file_are_read_with_decimal_comma(tmp_path):
    """Walkthrough 3, M3: `6,"33,6","0,627",1` was refused with --decimal , (and with --sep , too),
    and the hint without --decimal (pass --decimal ,) and the one with it contradicted each other."""
    from das.collab.data import load_dataset

    path = tmp_path / "q.csv"
    path.write_text('a,b,c,label\r\n6,"33,6","0,627",1\r\n1,"26,6","0,351",0\r\n8,"23,3","0,672",0\r\n')
    res = CliRunner().invoke(main, ["data", "info", str(path)])
    assert res.exit_code == 1 and "(a decimal comma? pass --decimal ,)" in res.output, res.output
    for options in (["--decimal", ","], ["--decimal", ",", "--sep", ","]):
        res = CliRunner().invoke(main, ["data", "info", str(path), *options])
        assert res.exit_code == 0, res.output
        assert load_dataset(path, **dict(zip(("decimal", "sep"), options[1::2]))).X.tolist() == \
            [[6, 33.6, 0.627], [1, 26.6, 0.351], [8, 23.3, 0.672]]
    path.write_text('a,b,label\n6,"33,6",1\n6,33,6,0\n')  # one number not quoted: cannot be told apart
    res = CliRunner().invoke(main, ["data", "info", str(path), "--decimal", ","])
    assert res.exit_code == 1 and "line 3 has 4 fields, the header has 3" in res.output, res.output
    assert 'read only where every number with a decimal mark is quoted ("33,6"); re-save it with ; ' in res.output
