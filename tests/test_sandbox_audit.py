"""Static audit (sandbox layer 1): one test per rule, exact messages; the benign
idioms it accepts also run in the sandbox."""
import textwrap

import numpy as np
import pytest

from das.sandbox import AuditReport, Finding, audit_source, run_program
from das.sandbox.rules import BASE_IMPORTS

HONEST = '''
"""Policy: push points just outside the data along low-variance directions."""
import math
import numpy as np
from scipy.spatial import distance
from sklearn.neighbors import NearestNeighbors

SCALE: float = 0.5


def helper(x, k=3):
    return x * SCALE + k


def generate_hard_anomalies(n_samples, model, X_train):
    # pick random rows, jitter them, keep the least anomalous half
    idx = np.random.randint(0, len(X_train), size=2 * n_samples)
    cand = X_train[idx] + np.random.normal(0, 1, size=(2 * n_samples, X_train.shape[1]))
    cand[0, :] += 1.0
    scores = model.predict_score(cand)
    order = sorted(range(len(scores)), key=lambda i: scores[i])
    pairs = [(i, s) for i, s in enumerate(scores) if s > -math.inf]
    first, *rest = pairs
    print(f"kept {len(order)} of {len(cand)}")
    return helper(cand[np.argsort(scores)[:n_samples]])
'''


def program(body, header="import numpy as np\n"):
    """Wrap ``body`` (indented once) into a program."""
    return header + "\ndef generate_hard_anomalies(n_samples, model, X_train):\n" + textwrap.indent(
        textwrap.dedent(body), "    ")


def rules_of(source, **kw):
    return [f.rule for f in audit_source(source, **kw).findings]


def test_honest_program_passes():
    rep = audit_source(HONEST)
    assert isinstance(rep, AuditReport)
    assert rep.ok, str(rep)
    assert rep.findings == ()


def test_finding_str_format():
    f = Finding(4, "dunder-access", 'attribute "__class__" is a dunder name')
    assert str(f) == 'Line 4: dunder-access: attribute "__class__" is a dunder name'
    assert f.to_dict() == {"line": 4, "rule": "dunder-access", "message": f.message}


def test_syntax_error_is_a_finding():
    rep = audit_source("def generate_hard_anomalies(:\n")
    assert not rep.ok
    assert [f.rule for f in rep.findings] == ["syntax-error"]
    assert rep.findings[0].line == 1


@pytest.mark.parametrize("bad", [None, b"bytes", 42])
def test_non_string_source_never_raises(bad):
    rep = audit_source(bad)
    assert not rep.ok and rep.findings[0].rule == "syntax-error"


def test_null_byte_source_never_raises():
    assert rules_of("x = 1\0") == ["syntax-error"]


def test_deeply_nested_source_never_raises():
    src = "x = " + "(" * 5000 + "1" + ")" * 5000
    rep = audit_source(src)
    assert not rep.ok


def test_missing_entry_point():
    rep = audit_source("import numpy as np\nX = 1\n")
    assert [str(f) for f in rep.findings] == [
        "Line 1: signature: expected exactly one top-level generate_hard_anomalies, found 0"
    ]


def test_two_entry_points():
    src = program("return X_train") + "\n" + program("return X_train", header="")
    assert rules_of(src) == ["signature"]


def test_wrong_parameters():
    src = "def generate_hard_anomalies(n, model, X):\n    return X\n"
    assert [str(f) for f in audit_source(src).findings] == [
        "Line 1: signature: parameters must be (n_samples, model, X_train[, degree]), got (n, model, X)"
    ]


def test_degree_parameter_optional():
    src = 'def generate_hard_anomalies(n_samples, model, X_train, degree="med"):\n    return X_train\n'
    assert audit_source(src).ok
    assert rules_of(src, allow_degree=False) == ["signature"]


def test_varargs_refused():
    src = "def generate_hard_anomalies(n_samples, model, X_train, *args):\n    return X_train\n"
    assert rules_of(src) == ["signature"]


def test_top_level_statement_refused():
    src = program("return X_train") + "\nfor i in range(3):\n    pass\n"
    rep = audit_source(src)
    assert [f.rule for f in rep.findings] == ["top-level-statement"]
    assert rep.findings[0].message == "For is not allowed at module level"


def test_top_level_call_refused():
    src = program("return X_train") + "\nprint(1)\n"
    assert rules_of(src) == ["top-level-statement"]


@pytest.mark.parametrize("src,message", [
    ("import os", 'import of "os" is not allowed'),
    ("from os import system", 'import of "os" is not allowed'),
    ("import numpy.f2py", 'import of "numpy.f2py" is not allowed'),
    ("from numpy.lib import format", '"numpy.lib.format" is not on the allow-list'),
    ("import scipy.stats.tests", 'import of "scipy.stats.tests" is not allowed'),
    ("import sklearn.utils", 'import of "sklearn.utils" is not allowed'),
    ("import unittest.mock", 'import of "unittest.mock" is not allowed'),
    ("from scipy.optimize import OptimizeResult", '"scipy.optimize.OptimizeResult" is not on the allow-list'),
    ("import scipy", 'import of "scipy" is not allowed'),
    ("from . import x", "relative imports are not allowed"),
    ("from numpy import *", "from numpy import * is not allowed"),
])
def test_import_not_allowed(src, message):
    findings = audit_source(src + "\n" + program("return X_train", header="")).findings
    assert [(f.line, f.rule, f.message) for f in findings] == [(1, "import-not-allowed", message)]


def test_allowed_imports_configurable():
    src = "from sklearn.neighbors import NearestNeighbors\n" + program("return X_train")
    assert audit_source(src).ok
    assert rules_of(src, allowed_imports=BASE_IMPORTS) == ["import-not-allowed"]


def test_from_import_of_denied_numpy_name():
    src = "from numpy import load\n" + program("return X_train", header="")
    assert [str(f) for f in audit_source(src).findings] == [
        'Line 1: numpy-denied: "numpy.load" is a denied file/native entry point'
    ]


@pytest.mark.parametrize("expr", ["x.__class__", "X_train.__array_interface__", "f.__globals__"])
def test_dunder_attribute(expr):
    rep = audit_source(program(f"y = {expr}\nreturn X_train"))
    assert [f.rule for f in rep.findings] == ["dunder-access"]
    assert rep.findings[0].line == 4


def test_dunder_name():
    assert rules_of(program("b = __builtins__\nreturn X_train")) == ["dunder-access", "forbidden-name"]


def test_private_name_and_attribute():
    rep = audit_source(program("_x = model._conn\n_getattr_ = len\nreturn X_train"))
    assert [str(f) for f in rep.findings] == [
        'Line 4: private-name: attribute "_conn" starts with "_"',
        'Line 5: private-name: name "_getattr_" is reserved for the sandbox',
    ]


@pytest.mark.parametrize("name", ["eval", "exec", "compile", "open", "getattr", "setattr",
                                  "globals", "locals", "vars", "dir", "breakpoint", "input",
                                  "memoryview", "object", "super"])
def test_forbidden_names(name):
    rep = audit_source(program(f"y = {name}\nreturn X_train"))
    assert [str(f) for f in rep.findings] == [f'Line 4: forbidden-name: "{name}" is not allowed']


def test_type_with_three_args_is_forbidden_call():
    rep = audit_source(program('T = type("T", (), {})\nreturn X_train'))
    assert [str(f) for f in rep.findings] == [
        "Line 4: forbidden-call: type() with more than one argument creates classes"
    ]
    assert audit_source(program("t = type(X_train)\nreturn X_train")).ok


@pytest.mark.parametrize("expr", ["np.load", "np.save", "np.fromfile", "X_train.tofile",
                                  "np.memmap", "np.ctypeslib", "X_train.ctypes", "np.f2py",
                                  "np.DataSource", "np.testing", "np.frombuffer",
                                  "X_train.dump", "np.savetxt", "np.genfromtxt"])
def test_numpy_denied(expr):
    rep = audit_source(program(f"y = {expr}\nreturn X_train"))
    attr = expr.rsplit(".", 1)[1]
    assert [str(f) for f in rep.findings] == [
        f'Line 4: numpy-denied: attribute "{attr}" is a denied file/native entry point'
    ]


@pytest.mark.parametrize("expr", ["g.gi_frame", "e.tb_frame", "fr.f_globals", "int.mro"])
def test_forbidden_attribute(expr):
    assert rules_of(program(f"y = {expr}\nreturn X_train")) == ["forbidden-attribute"]


@pytest.mark.parametrize("body,node", [
    ("match n_samples:\n    case 1:\n        pass\nreturn X_train", "Match"),
])
def test_node_not_allowed(body, node):
    rep = audit_source(program(body))
    assert [str(f) for f in rep.findings] == [f"Line 4: node-not-allowed: {node} is not allowed"]


def test_async_function_refused():
    src = program("return X_train") + "\nasync def helper():\n    pass\n"
    assert "node-not-allowed" in rules_of(src)


def test_decorator_refused():
    src = "import numpy as np\n\n@np.vectorize\ndef f(x):\n    return x\n" + program("return X_train", header="")
    assert rules_of(src) == ["node-not-allowed"]


def test_augmented_subscript_assignment_is_accepted():
    # RestrictedPython alone refuses this; the rewrite makes it compile.
    assert audit_source(program("X_train[0] += 1\nX_train[:, 1] *= 2\nreturn X_train")).ok


def test_restricted_python_errors_are_reported():
    # "printed" is reserved by RestrictedPython only; its error becomes a finding.
    rep = audit_source(program("printed = 1\nreturn X_train"))
    assert [str(f) for f in rep.findings] == [
        'Line 4: restricted-python: "printed" is a reserved name.'
    ]


def test_findings_sorted_and_report_str():
    src = program("a = x.__class__\nb = eval\nreturn X_train", header="import os\n")
    rep = audit_source(src)
    assert [f.line for f in rep.findings] == sorted(f.line for f in rep.findings)
    assert str(rep).splitlines()[0] == 'Line 1: import-not-allowed: import of "os" is not allowed'
    assert rep.to_dict()["ok"] is False


# -- the augmented-assignment rewrite (DESIGN pitfall) -------------------------------
def test_rewrite_turns_item_augassign_into_assignment():
    import ast

    from das.sandbox.rewrite import rewrite_augmented

    tree = rewrite_augmented(ast.parse("a[i, 1:] += x\nb.c *= 2\nn -= 1\ny: float = 2.0\nz: int\n"))
    assert ast.unparse(tree).splitlines() == [  # Python's order; the item updated in place, stored back
        "_aug9 = a", "_aug10 = i", "_aug11 = _aug9[_aug10, 1:]", "_aug11 += x", "_aug9[_aug10, 1:] = _aug11",
        "_aug12 = b", "_aug13 = _aug12.c", "_aug13 *= 2", "_aug12.c = _aug13", "n -= 1", "y = 2.0", "pass"]


def test_rewrite_evaluates_the_container_and_each_index_once():
    """Red team D1: ``a[f()] += v`` called f twice (read one cell, wrote another)."""
    import ast

    from das.sandbox.rewrite import rewrite_augmented

    tree = rewrite_augmented(ast.parse("g(a)[f(), 1:k + 1] += x\n_aug7 = 0\no.p.q -= 1\n"))
    assert ast.unparse(tree).splitlines() == [  # 7 names are taken, _aug7 among them
        "_aug8 = g(a)", "_aug9 = f()", "_aug10 = k + 1", "_aug11 = _aug8[_aug9, 1:_aug10]", "_aug11 += x",
        "_aug8[_aug9, 1:_aug10] = _aug11", "_aug7 = 0", "_aug12 = o.p", "_aug13 = _aug12.q", "_aug13 -= 1",
        "_aug12.q = _aug13"]


@pytest.mark.parametrize("body", [
    "a[*iter([0, 1])] += 5.0",  # an iterator index: consumed once
    "def swap():\n    nonlocal a\n    a = np.full_like(first, 7.0)\n    return 0\na[swap()] += 1.0",  # container first
    "i = 0\na[i] += (i := 2) + 1.0",  # round 4, F2: the value rebinds the index...
    "b = np.ones_like(a)\na[0] += len(a := b)",  # ...or the container
    "x = np.zeros(2)\nholder = {'x': x}\nholder['x'] += 1.0\na[0, :2] = x",  # round 5, F2b: in place
    "box = [[0.0]]\nbox[0] += [5.0]\na[0, :2] = box[0]",  # a list item extended in place
])
def test_rewritten_augmented_assignment_means_what_python_means(body):
    """Red team round 3, F8: the rewrite must keep Python's evaluation order and single evaluation."""
    from das.sandbox import run_program

    src = program("a = np.zeros((n_samples, 3))\nfirst = a\n" + body + "\nreturn first")
    namespace = {}
    exec(src, namespace)  # noqa: S102 - the test's own program, as plain Python
    plain = namespace["generate_hard_anomalies"](4, None, np.zeros((5, 3)))
    result = run_program(src, np.zeros((5, 3)), 4, lambda Z: np.zeros(len(Z)))
    assert result.status == "ok" and np.array_equal(result.output, plain)


def test_a_random_index_reads_and_writes_the_same_cell_in_the_sandbox():
    from das.sandbox import run_program

    src = program("out = np.zeros((n_samples, 2))\nrng = np.random.default_rng(0)\n"
                  "for _ in range(50):\n    out[rng.integers(0, n_samples), rng.integers(0, 2)] += 1.0\n"
                  "return out")
    result = run_program(src, np.zeros((20, 2)), 10, lambda Z: np.zeros(len(Z)))
    assert result.status == "ok" and result.output.sum() == 50.0  # every draw adds to the cell it read


def test_rewrite_and_restricted_python_both_ways():
    from RestrictedPython import compile_restricted_exec

    src = program("X_train[0] += 1\nreturn X_train")
    # Without the rewrite RestrictedPython refuses the program...
    assert compile_restricted_exec(src).errors
    # ...with it the audit (which compiles the rewritten tree) accepts it.
    assert audit_source(src).ok


def test_numpy_test_runner_denied():
    assert rules_of(program("np.test()\nreturn X_train")) == ["numpy-denied"]


@pytest.mark.parametrize("src", [
    "x = " + "-" * 3000 + "1",
    "x = " + "[" * 150 + "]" * 150,
    "x = a" + ".b" * 5000,
    "x = 1" + " + 1" * 20000,
])
def test_hostile_nesting_is_a_finding_not_an_exception(src):
    rep = audit_source(src + "\n" + program("return X_train", header=""))
    assert not rep.ok
    assert {f.rule for f in rep.findings} <= {"too-deeply-nested", "syntax-error"}


def test_memory_error_while_parsing_is_a_finding(monkeypatch):
    import ast

    def exhausted(*args, **kwargs):
        raise MemoryError
    monkeypatch.setattr(ast, "parse", exhausted)
    assert [f.rule for f in audit_source("x = 1").findings] == ["too-deeply-nested"]


BENIGN = {
    "str-format": 's = "{} has {:.2f} {name}".format("x", 1.5, name="y")\nt = str.format("{0}", 1)',
    "private-helper-names": "_scale = 2.0\ndef _helper(a):\n    return a * _scale\ny = _helper(X_train)",
    "helper-class": ("class Box(object):\n    def __init__(self, lo, hi):\n        self.lo = lo\n"
                     "        self.hi = hi\n    def width(self):\n        return self.hi - self.lo\n"
                     "b = Box(0.0, 1.0)\nw = b.width()"),
    "generator": "def gen(k):\n    for i in range(k):\n        yield i\n    yield from range(2)\nv = list(gen(3))",
    "global-nonlocal": ("def outer():\n    count = 0\n    def inc():\n        nonlocal count\n"
                        "        count += 1\n    inc()\n    return count\nc = outer()"),
    "sliding-window": "w = np.lib.stride_tricks.sliding_window_view(X_train[:, 0], 2)",
}


@pytest.mark.parametrize("body", BENIGN.values(), ids=list(BENIGN))
def test_benign_idioms_pass_the_audit_and_run(body):
    src = program(body + "\nreturn X_train[:n_samples]")
    assert audit_source(src).ok, str(audit_source(src))
    _runs_ok(src)


def test_benign_module_level_idioms_pass_the_audit_and_run():
    src = ("import statistics\nimport warnings\nfrom scipy.optimize import minimize\nfrom scipy import stats\n"
           "from sklearn.ensemble import IsolationForest\nCOUNTER = 0\n"
           + program("global COUNTER\nCOUNTER += 1\nwith warnings.catch_warnings():\n"
                     "    warnings.simplefilter('ignore')\n    f = IsolationForest(n_estimators=3).fit(X_train)\n"
                     "m = minimize(lambda v: float(((v - 1) ** 2).sum()), np.zeros(2)).x\n"
                     "print(statistics.mean([1, 2]), round(float(m[0]), 3), stats.norm.cdf(0.0))\n"
                     "return X_train[:n_samples]")
           + '\n\nif __name__ == "__main__":\n    print("demo")\n')
    assert audit_source(src).ok, str(audit_source(src))
    assert _runs_ok(src).stdout == "1.5 1.0 0.5\n"


def _runs_ok(src):
    X = np.random.default_rng(0).normal(size=(30, 3))
    res = run_program(src, X, 5, lambda A: A.sum(axis=1))
    assert res.status == "ok", res.message
    return res


@pytest.mark.parametrize("body,rule", [
    ("class A:\n    def __array__(self):\n        return 1", "dunder-access"),
    ("class A:\n    __array_interface__ = {}", "dunder-access"),
    ("class A(np.ndarray):\n    pass", "node-not-allowed"),
    ("class A(metaclass=type):\n    pass", "node-not-allowed"),
    ("d = {'__array_interface__': 1}", "dunder-key"),
    ("d = {}\nd['__array_interface__'] = 1", "dunder-key"),
    ("d = dict(__array_interface__=1)", "dunder-key"),
    ("o = object()", "forbidden-name"),
    ("a = np.zeros(3, dtype=object)", "forbidden-name"),
    ("n = __name__", "dunder-access"),
    ("i = id(X_train)", "forbidden-name"),
    ("class A:\n    _hook = 1", "private-name"),
    ("class A:\n    def _helper(self):\n        pass", "private-name"),
    ("import scipy", "import-not-allowed"),
    ("from sklearn import utils", "import-not-allowed"),
])
def test_refused_idioms(body, rule):
    assert rule in rules_of(program(body + "\nreturn X_train"))


def test_if_other_than_the_main_guard_is_refused_at_module_level():
    src = 'if __name__ != "__main__":\n    pass\n' + program("return X_train")
    assert "top-level-statement" in rules_of(src)


#: The idiom of the two Gemini programs of the LLM-DAS paper refused only for
#: ``import typing``: type hints in signatures and annotated assignments.
TYPE_HINTED = '''
import typing
from typing import Optional, Tuple
import numpy as np


def _spread(X: np.ndarray, k: Optional[int] = None) -> Tuple[np.ndarray, np.ndarray]:
    centre: np.ndarray = X.mean(axis=0)
    return centre, X.std(axis=0) + (0.0 if k is None else float(k))


def generate_hard_anomalies(n_samples: int, model: typing.Any, X_train: np.ndarray) -> np.ndarray:
    centre, spread = _spread(X_train)
    rng = np.random.default_rng(0)
    return centre + 0.5 * spread * rng.normal(size=(n_samples, X_train.shape[1]))
'''


def test_typing_for_annotations_passes_the_audit_and_runs():
    assert audit_source(TYPE_HINTED).ok, audit_source(TYPE_HINTED)
    res = run_program(TYPE_HINTED, np.random.default_rng(1).normal(size=(30, 3)), 4, lambda A: A.sum(axis=1))
    assert res.status == "ok", res.message
    assert res.output.shape == (4, 3)


@pytest.mark.parametrize("use,name", [
    ("cast = typing.cast\nx = cast(int, 1)", "typing"),
    ("x = Optional", "Optional"),
    ("x = Tuple[int, int]", "Tuple"),
    ("def f(a=Optional):\n    return a", "Optional"),
    ("Optional = print", "Optional"),
])
def test_typing_names_outside_annotations_are_refused(use, name):
    src = "import typing\nfrom typing import Optional, Tuple\n\n" + program(use + "\nreturn X_train", header="")
    report = audit_source(src)
    assert not report.ok
    assert f'import-not-allowed: "{name}" comes from typing, whose names may be used only in annotations' \
        in str(report)


def test_typing_star_and_submodules_are_refused():
    assert "from typing import * is not allowed" in str(audit_source(program("return X_train", "from typing import *\n")))
    assert 'import of "typing.io" is not allowed' in str(audit_source(program("return X_train", "import typing.io\n")))
