"""Escape attempts: each is blocked by the audit or contained as a typed result.

Every attack runs with a fake API key in the parent's environment, from a
private working directory, and checks afterwards that the parent is intact:
numpy unpatched, no file created, the key never echoed back.  A second group
bypasses layers 1-2 on purpose and runs plain Python inside the isolated
worker to show layer 3 (environment scrub, rlimits, seccomp) holds alone.
"""
import ast
import json
import os
import textwrap

import numpy as np
import pytest
from RestrictedPython import compile_restricted

from das.sandbox import Limits, run_program
from das.sandbox import guards, protocol, seccomp
from das.sandbox.audit import PROGRAM_FILENAME
from das.sandbox.rewrite import ProgramPolicy, rewrite_augmented
from das.sandbox.rules import ALLOWED_MODULES, DEFAULT_IMPORTS, MODULE_ATTRIBUTES

SECRET = "sk-ant-FAKE-SECRET-for-sandbox-tests"
MARKER = "/tmp/das_sandbox_attack_marker"
D = 3
REJECTED = "audit-rejected"
VIOLATION = "violation"


def program(body, header="import numpy as np\n"):
    return header + "\ndef generate_hard_anomalies(n_samples, model, X_train):\n" + textwrap.indent(
        textwrap.dedent(body), "    ")


# (id, body, expected status, text that must appear in the message)
ATTACKS = [
    # -- imports by every route ---------------------------------------------
    ("import-os", "import os\nos.system('touch %s')" % MARKER, REJECTED, "import-not-allowed"),
    ("from-os-import", "from os import system\nsystem('id')", REJECTED, "import-not-allowed"),
    ("dunder-import", "os = __import__('os')", REJECTED, "dunder-access"),
    ("importlib", "import importlib\nos = importlib.import_module('os')", REJECTED, "import-not-allowed"),
    ("import-subprocess", "import subprocess\nsubprocess.run(['id'])", REJECTED, "import-not-allowed"),
    ("import-socket", "import socket\nsocket.create_connection(('1.1.1.1', 80))", REJECTED, "import-not-allowed"),
    ("import-sys-modules", "import sys\nos = sys.modules['os']", REJECTED, "import-not-allowed"),
    ("import-numpy-f2py", "import numpy.f2py\nnumpy.f2py.os.system('id')", REJECTED, "import-not-allowed"),
    ("np-f2py-os", "np.f2py.os.system('id')", REJECTED, "numpy-denied"),
    ("np-ctypeslib-ctypes", "np.ctypeslib.ctypes.CDLL(None)", REJECTED, "numpy-denied"),
    ("np-lib-npyio", "np.lib.npyio.os.getcwd()", REJECTED, "numpy-denied"),
    ("np-testing-subprocess", "np.testing.extbuild", REJECTED, "numpy-denied"),
    ("from-numpy-import-ctypeslib", "from numpy import ctypeslib", REJECTED, "numpy-denied"),
    ("relative-import", "from . import sandbox", REJECTED, "import-not-allowed"),
    # -- module walks that pass the audit: refused by the runtime guard ---------
    ("runtime-np-typing-module", "m = np.typing\nreturn X_train", VIOLATION, 'Line 4: module-attribute: "numpy.typing"'),
    ("runtime-np-random-submodule", "m = np.random.bit_generator", VIOLATION, '"numpy.random.bit_generator" is not on'),
    ("runtime-scipy-to-warnings", "from scipy.spatial import distance\nw = distance.warnings", VIOLATION, '"scipy.spatial.distance.warnings"'),
    ("runtime-hasattr-probe", "if hasattr(np, 'typing'):\n    return X_train\nm = np.char", VIOLATION, '"numpy.typing"'),
    # -- dunder, frame, traceback, generator walks ----------------------------
    ("class-mro-subclasses", "subs = ().__class__.__mro__[1].__subclasses__()", REJECTED, "dunder-access"),
    ("func-globals", "def f():\n    pass\ng = f.__globals__", REJECTED, "dunder-access"),
    ("builtins-name", "b = __builtins__['open']", REJECTED, "dunder-access"),
    ("generator-frame", "g = (i for i in range(2))\nfr = g.gi_frame.f_back.f_globals", REJECTED, "forbidden-attribute"),
    ("traceback-frame", "try:\n    1 / 0\nexcept Exception as e:\n    t = e.__traceback__.tb_frame", REJECTED, "dunder-access"),
    ("type-mro-call", "t = type(X_train).mro()", REJECTED, "forbidden-attribute"),
    ("class-with-hostile-array", "class A:\n    def __array__(self):\n        return 1\nreturn A()", REJECTED, "dunder-access"),
    ("type-3-args-class", "A = type('A', (), {'__array__': None})", REJECTED, "forbidden-call"),
    ("yield-output", "yield X_train", VIOLATION, "output-hook"),
    ("global-statement-is-harmless", "global np\nnp = None", "ok", ""),
    # -- format-string attribute access ----------------------------------------
    ("str-format-class", "s = '{0.__class__.__mro__}'.format(X_train)", VIOLATION, "forbidden-attribute"),
    ("str-format-map", "s = str.format_map('{a.__globals__}', {'a': len})", VIOLATION, "forbidden-attribute"),
    ("str-format-public-attribute", "s = '{0.ctypes.data}'.format(X_train)", VIOLATION, "reads an attribute"),
    ("str-format-nested-spec", "s = '{0:{1.real}}'.format(1, 2)", VIOLATION, "reads an attribute"),
    ("fstring-dunder", "s = f'{X_train.__class__}'", REJECTED, "dunder-access"),
    # -- forbidden builtins --------------------------------------------------------
    ("eval", "eval('1')", REJECTED, "forbidden-name"),
    ("exec", "exec('import os')", REJECTED, "forbidden-name"),
    ("compile", "c = compile('1', 'x', 'eval')", REJECTED, "forbidden-name"),
    ("open-read-secret", "open('/proc/self/environ').read()", REJECTED, "forbidden-name"),
    ("getattr-dunder", "g = getattr(X_train, '__class__')", REJECTED, "forbidden-name"),
    ("globals-vars", "g = globals()['np']", REJECTED, "forbidden-name"),
    # -- numpy file / memory / native routes ----------------------------------------
    ("np-load", "np.load('/etc/passwd', allow_pickle=True)", REJECTED, "numpy-denied"),
    ("np-save", "np.save('%s', X_train)" % MARKER, REJECTED, "numpy-denied"),
    ("np-fromfile", "np.fromfile('/etc/passwd', dtype=np.uint8)", REJECTED, "numpy-denied"),
    ("tofile", "X_train.tofile('%s')" % MARKER, REJECTED, "numpy-denied"),
    ("memmap", "np.memmap('%s', mode='w+', shape=(10,))" % MARKER, REJECTED, "numpy-denied"),
    ("open-memmap", "np.lib.format.open_memmap('%s', mode='w+', shape=(2,))" % MARKER, REJECTED, "numpy-denied"),
    ("datasource", "np.DataSource('/tmp').open('/etc/passwd')", REJECTED, "numpy-denied"),
    ("array-ctypes-pointer", "p = X_train.ctypes.data", REJECTED, "numpy-denied"),
    ("as-strided-read", "np.lib.stride_tricks.as_strided(X_train, shape=(10**9,))", REJECTED, "numpy-denied"),
    ("bitgen-ctypes", "np.random.default_rng().bit_generator.ctypes", REJECTED, "numpy-denied"),
    ("savetxt", "np.savetxt('%s', X_train)" % MARKER, REJECTED, "numpy-denied"),
    # -- writes, signals, env, processes ---------------------------------------------
    ("print-to-file", "print('x', file=None)\nreturn X_train[:n_samples]", "ok", ""),
    ("signal-kill-parent", "import signal\nimport os\nos.kill(os.getppid(), signal.SIGKILL)", REJECTED, "import-not-allowed"),
    ("thread-bomb", "import threading\nthreading.Thread(target=len).start()", REJECTED, "import-not-allowed"),
    ("multiprocessing", "import multiprocessing\nmultiprocessing.Process().start()", REJECTED, "import-not-allowed"),
    # -- resources -----------------------------------------------------------------------
    ("memory-bomb-zeros", "a = np.zeros((10**6, 10**6))", "memory", "MemoryError"),
    ("memory-bomb-list", "x = []\nwhile True:\n    x.append(np.empty(10**7))", "memory", "MemoryError"),
    ("infinite-loop", "while True:\n    pass", "timeout", "limit"),
    ("deep-recursion", "def f(k):\n    return f(k + 1)\nreturn f(0)", "runtime-error", "RecursionError"),
    ("huge-output", "return np.zeros((10**7, X_train.shape[1]))", "bad-output", "got (10000000, 3)"),
    # -- model proxy tampering -----------------------------------------------------------
    ("proxy-private", "c = model._conn", REJECTED, "private-name"),
    ("proxy-closure", "c = model.predict_score.__closure__", REJECTED, "dunder-access"),
    ("proxy-overwrite", "model.predict_score = len\nreturn X_train[:n_samples]", VIOLATION, "writing to ModelProxy objects is not allowed"),
    ("proxy-unknown-attr", "m = model.scorer", VIOLATION, 'proxy-introspection: "scorer"'),
    ("proxy-hasattr-probe", "try:\n    h = hasattr(model, 'fit')\nexcept Exception:\n    pass", VIOLATION, "proxy-introspection"),
    ("proxy-garbage", "model.predict_score('garbage')", "runtime-error", "ValueError"),
    ("proxy-object-array", "model.predict_score(np.array([[object()] * 3]))", REJECTED, "forbidden-name"),
    ("proxy-budget-swallowed", "for i in range(100):\n    try:\n        model.predict_score(X_train)\n    except Exception:\n        pass\nreturn X_train[:n_samples]", "budget", "more than 5"),
    # -- monkeypatching ------------------------------------------------------------------------
    ("monkeypatch-np-attr", "np.mean = len\nreturn X_train[:n_samples]", VIOLATION, "writing to module objects is not allowed"),
    ("monkeypatch-setattr", "setattr(np, 'mean', len)", REJECTED, "forbidden-name"),
    ("overwrite-dunder-dict", "np.__dict__['mean'] = len", REJECTED, "dunder-access"),
]


_AI = "k = '__array_' + 'interface__'\n"  # a computed dunder: no literal for the audit to see
# Issue 12's routes out and the next escape classes, run against the guards
# before issue 12 (commit 6787ddd): the issue's routes (type(int), computed
# dunder keys, hash, resize, scipy test packages, off-list numpy functions,
# caught refusals, OS entropy) ended "ok" there; imports refused there
# (statistics, warnings, scipy.optimize, sklearn.ensemble, classes) are
# allowed now, so their routes are checked here too.
# (id, body, expected status, text that must appear in the message)
ROUTES = [
    # `type` as the real metaclass, computed dunder keys, raw addresses
    ("type-int-metaclass", "T = type(int)\nA = T('A', (), {})", VIOLATION, "forbidden-call: type(x) is a query"),
    ("type-query-as-base", "T = type(X_train)\nclass A(T):\n    pass", VIOLATION, "cannot be a base class"),
    ("array-interface-dict-literal", _AI + "d = {k: {'data': (0, False), 'shape': (1,), 'typestr': '<f8'}}",
     VIOLATION, 'dunder-key: key "__array_interface__"'),
    ("array-interface-dict-call", _AI + "d = dict([(k, 1)])", VIOLATION, "dunder-key"),
    ("array-interface-setitem", _AI + "d = {}\nd[k] = 1", VIOLATION, "dunder-key"),
    ("array-interface-dict-comprehension", _AI + "d = {key: 1 for key in [k]}", VIOLATION, "dunder-key"),
    ("array-interface-kwargs", _AI + "d = dict(**{k: 1})", VIOLATION, "dunder-key"),
    ("hash-gives-an-address", "h = hash(model)", VIOLATION, "hash() of a ModelProxy object"),
    ("hash-of-a-function", "def f():\n    pass\nh = hash(f)", VIOLATION, "forbidden-call"),
    ("hash-of-a-tuple-of-objects", "h = hash((1, (model,)))", VIOLATION, "hash() of a ModelProxy object"),
    ("numpy-str-format", "s = np.array(['{0.real}'])[0].format(1)", VIOLATION, "reads an attribute"),
    ("ndarray-resize-frees-under-a-view", "A = X_train.copy()\nv = A[:2]\nA.resize((1,), refcheck=False)", VIOLATION, 'method "resize"'),
    ("ndarray-buffer-out-of-bounds", "a = np.ndarray((10**6,), buffer=X_train, strides=(8,))", VIOLATION, "raw memory"),
    ("ndarray-object-over-raw-bytes", "b = np.zeros(8, dtype=np.uint8)\na = np.ndarray((1,), 'O', b)",
     VIOLATION, "np.ndarray(buffer=, offset=, strides=) reinterprets raw memory"),
    ("ndarray-alias-object-over-raw-bytes", "from numpy import ndarray as nd\n"
     "a = nd((1,), dtype=[('p', 'O')], buffer=np.zeros(8, dtype=np.uint8))", VIOLATION, "raw memory"),
    # the import allow-list: test packages and what they pull in
    ("import-scipy-tests", "import scipy.stats.tests", REJECTED, 'import of "scipy.stats.tests" is not allowed'),
    ("import-sklearn-tests", "from sklearn.utils import _testing", REJECTED, "import-not-allowed"),
    ("import-unittest-mock", "import unittest.mock", REJECTED, "import-not-allowed"),
    ("import-functools", "import functools", REJECTED, "import-not-allowed"),
    ("import-dataclasses", "import dataclasses", REJECTED, "import-not-allowed"),
    ("import-codecs", "import codecs", REJECTED, "import-not-allowed"),
    ("import-operator-attrgetter", "from operator import attrgetter", REJECTED, "import-not-allowed"),
    ("scipy-private-walk", "import scipy.stats\nm = scipy.stats.distributions", VIOLATION, "module-attribute"),
    ("sklearn-package-walk", "import sklearn.ensemble\nu = sklearn.utils", VIOLATION, '"sklearn.utils" is not on'),
    # functions off the allow-list, caught or not
    ("np-vectorize", "f = np.vectorize(len)", VIOLATION, '"numpy.vectorize"'),
    ("np-frompyfunc", "f = np.frompyfunc(len, 1, 1)", VIOLATION, '"numpy.frompyfunc"'),
    ("bit-generator-capsule", "c = np.random.default_rng(0).bit_generator.capsule", REJECTED, "numpy-denied"),
    ("np-clock", "t = np.datetime64('now')", VIOLATION, '"numpy.datetime64"'),
    ("caught-refusal-still-fails", "try:\n    m = np.ma\nexcept Exception:\n    pass", VIOLATION, '"numpy.ma"'),
    ("probe-at-the-recursion-limit", "def probe(k):\n    try:\n        return probe(k + 1)\n    except Exception:\n"
     "        m = np.typing\nprobe(0)", VIOLATION, '"numpy.typing"'),
    ("caught-base-exception-still-fails", "try:\n    m = np.char\nexcept BaseException:\n    pass", VIOLATION, '"numpy.char"'),
    ("statistics-normaldist-entropy", "import statistics\nd = statistics.NormalDist()", VIOLATION, "NormalDist"),
    ("random-system-entropy", "import random\nr = random.SystemRandom()", VIOLATION, "SystemRandom"),
    ("warnings-showwarning-hook", "import warnings\nwarnings.showwarning = print", VIOLATION, "write-not-allowed"),
    ("np-save-through-an-alias", "from numpy import save as keep", REJECTED, "numpy-denied"),
    # library objects whose dict keys become attributes (OptimizeResult, Bunch)
    ("optimize-result-update", "from scipy.optimize import minimize\nr = minimize(lambda v: float((v ** 2).sum()), np.ones(2))\n"
     "r.update(zip(['x'], [1]))", VIOLATION, 'dunder-key: "update" on OptimizeResult'),
    ("optimize-callback-internals", "from scipy.optimize import minimize\ndef cb(intermediate_result):\n"
     "    intermediate_result.setdefault('fun', 0)\nminimize(lambda v: float((v ** 2).sum()), np.ones(2), callback=cb)",
     VIOLATION, '"setdefault" on OptimizeResult'),
    ("sklearn-set-params-dunder", _AI + "from sklearn.ensemble import IsolationForest\nIsolationForest().set_params(**{k: 1})",
     VIOLATION, "dunder-key"),
    # output objects that would run code while converted
    ("output-estimator", "from sklearn.neighbors import KDTree\nreturn KDTree(X_train)", VIOLATION, "output-hook"),
    ("output-program-object", "class Box(object):\n    pass\nreturn [Box()]", VIOLATION, "got list"),
    ("output-object-in-list", "return [X_train[0], model]", VIOLATION, "output-hook"),
    # BaseException from the program: a typed verdict, the worker survives
    ("system-exit", "raise SystemExit(3)", "runtime-error", "SystemExit: 3 (line 4)"),
    ("keyboard-interrupt", "raise KeyboardInterrupt()", "runtime-error", "KeyboardInterrupt"),
    ("generator-exit", "raise GeneratorExit()", "runtime-error", "GeneratorExit"),
]

@pytest.fixture
def guarded_parent(tmp_path, monkeypatch):
    """Parent state to compare after an attack: cwd listing and numpy."""
    monkeypatch.setenv("ANTHROPIC_API_KEY", SECRET)
    monkeypatch.setenv("GITHUB_TOKEN", SECRET)
    monkeypatch.chdir(tmp_path)
    if os.path.exists(MARKER):
        os.remove(MARKER)
    mean = np.mean
    yield tmp_path
    assert np.mean is mean
    assert sorted(os.listdir(tmp_path)) == []
    assert not os.path.exists(MARKER)
    assert os.environ["ANTHROPIC_API_KEY"] == SECRET


@pytest.mark.parametrize("name,body,status,needle", ROUTES, ids=[r[0] for r in ROUTES])
def test_issue_12_route_is_closed(guarded_parent, name, body, status, needle):
    _check_attack(body, status, needle, Limits(timeout_s=5.0, memory_mb=512, max_calls=5))


def test_a_violation_is_reported_with_its_line_even_when_caught(guarded_parent):
    body = "x = 1\ntry:\n    m = np.typing\nexcept AttributeError:\n    m = None\nprint('survived')"
    res = run_program(program(body + "\nreturn X_train[:n_samples]"), np.ones((4, D)), 2, lambda A: A.sum(1))
    assert res.status == VIOLATION
    assert res.message.startswith('Line 6: module-attribute: "numpy.typing" is not on the allow-list')
    assert "survived" not in res.stdout


@pytest.mark.parametrize("draw", [
    "np.random.default_rng().normal(size=3)",
    "np.random.RandomState().rand(3)",
    "np.random.seed()\nv = np.random.rand(3)",
    "import random\nv = [random.Random().random() for _ in range(3)]",
    "import random\nrandom.seed()\nv = [random.random() for _ in range(3)]",
    "import random\nr = random.Random(5)\nr.seed()\nv = [r.random() for _ in range(3)]",
    "r = np.random.RandomState(5)\nr.seed()\nv = r.rand(3)",
])
def test_unseeded_randomness_comes_from_the_run_seed_not_os_entropy(guarded_parent, draw):
    body = (draw if "\n" in draw else "v = " + draw) + "\nprint(list(v))\nreturn X_train[:n_samples]"
    runs = [run_program(program(body), np.ones((4, D)), 2, lambda A: A.sum(1), seed=seed) for seed in (1, 1, 2)]
    assert [r.status for r in runs] == ["ok"] * 3, runs[0].message
    assert runs[0].stdout == runs[1].stdout != runs[2].stdout


def test_at_least_forty_attacks():
    assert len({a[0] for a in ATTACKS}) == len(ATTACKS) >= 40


@pytest.mark.parametrize("name,body,status,needle", ATTACKS, ids=[a[0] for a in ATTACKS])
def test_attack_blocked_or_contained(guarded_parent, name, body, status, needle):
    _check_attack(body, status, needle, Limits(timeout_s=2.0, memory_mb=256, max_calls=5))


def _check_attack(body, status, needle, limits):
    """Run ``body`` as a program; check verdict, message, no output, intact input."""
    X = np.random.default_rng(0).normal(size=(40, D))
    before = X.copy()
    res = run_program(program(body + "\nreturn X_train[:n_samples]"), X, 10,
                      lambda A: A.sum(axis=1), limits=limits)
    assert res.status == status, res.message
    assert needle in res.message
    if status != "ok":
        assert res.output is None
    assert SECRET not in res.message + res.stdout
    np.testing.assert_array_equal(X, before)


def test_numpy_state_changes_do_not_leak_to_the_next_run(guarded_parent):
    X = np.ones((5, D))
    tamper = program("np.seterr(all='raise')\nnp.set_printoptions(precision=1)\n"
                     "print(np.array([np.pi]))\nreturn X_train[:n_samples]")
    check = program("print(np.array([np.pi]))\nz = np.zeros(1) / np.zeros(1)\n"
                    "return X_train[:n_samples]")
    first = run_program(tamper, X, 2, lambda A: A.sum(1))
    assert first.stdout == "[3.1]\n"
    second = run_program(check, X, 2, lambda A: A.sum(1))
    assert second.status == "ok", second.message  # 0/0 did not raise
    assert second.stdout == "[3.14159265]\n"


def test_program_cannot_read_the_secret_via_any_output(guarded_parent):
    body = "print(n_samples, model, X_train.shape)\nreturn X_train[:n_samples]"
    res = run_program(program(body), np.ones((4, D)), 2, lambda A: A.sum(1))
    assert res.status == "ok"
    assert SECRET not in res.stdout


def test_workers_descend_from_a_zygote_without_the_callers_secrets(guarded_parent):
    from das.sandbox import zygote

    zygote.shutdown()  # the next run spawns one while the secret is in our environment
    res = run_program(program("return X_train[:n_samples]"), np.ones((4, D)), 2, lambda A: A.sum(1))
    assert res.status == "ok"
    with open(f"/proc/{zygote.get_zygote().process.pid}/environ", "rb") as fh:
        environ = fh.read()
    assert SECRET.encode() not in environ
    assert b"OPENBLAS_NUM_THREADS=1" in environ


# -- runtime guards alone (layer 2 without the audit) ----------------------------------
@pytest.mark.parametrize("obj,name", [
    (np, "f2py"), (np, "ctypeslib"), (np, "load"), (np, "typing"), (np.random, "bit_generator"),
    (np, "__class__"), (np.zeros(1), "ctypes"), ("{0.real}", "format"), (np, "_core"),
    (np, "vectorize"), (np.zeros(1), "resize"), (np.zeros(1), "base"), (np.lib, "format"),
])
def test_guarded_getattr_refuses(obj, name):
    g = guards.make_getattr(DEFAULT_IMPORTS)
    with pytest.raises(guards.SandboxViolation):
        g(obj, name)


def test_guarded_getattr_refuses_functions_from_denied_modules():
    import types

    fake = types.SimpleNamespace(system=os.system, listdir=os.listdir)
    g = guards.make_getattr(DEFAULT_IMPORTS)
    with pytest.raises(guards.SandboxViolation):
        g(fake, "system")
    with pytest.raises(guards.SandboxViolation):
        g(types.SimpleNamespace(o=open), "o")


def test_callables_outside_the_reviewed_packages_are_refused_however_reached():
    """Issue 12: the call guard refused a callable only by its top-level module."""
    import codecs
    import dataclasses
    import functools
    import operator
    import types
    import unittest.mock

    g = guards.make_getattr(DEFAULT_IMPORTS)
    for leaked in (unittest.mock.patch, functools.wraps, dataclasses.make_dataclass, codecs.open,
                   operator.attrgetter, type, types.SimpleNamespace):
        with pytest.raises(guards.SandboxViolation):
            g(types.SimpleNamespace(leaked=leaked), "leaked")


@pytest.mark.parametrize("module_name", sorted(MODULE_ATTRIBUTES))
def test_every_allow_listed_name_exists_and_passes_the_value_check(module_name):
    """The allow-list itself leads nowhere: no stale name, no module off the list, no
    callable from outside the reviewed packages (checked by the guard's own value check)."""
    import importlib

    module = importlib.import_module(module_name)
    g = guards.make_getattr(DEFAULT_IMPORTS)
    for name in sorted(MODULE_ATTRIBUTES[module_name]):
        assert hasattr(module, name), f"{module_name}.{name} does not exist"
        g(module, name)


def test_allow_listed_modules_hold_no_test_package():
    assert not [m for m in ALLOWED_MODULES if guards.is_test_module(m)]


def test_refusals_are_reported_before_they_are_raised():
    seen = []
    g = guards.make_getattr(DEFAULT_IMPORTS, guards.make_refuse(seen.append))
    with pytest.raises(guards.SandboxViolation):
        g(np, "ctypeslib")
    assert [(f.rule, f.line) for f in seen] == [("numpy-denied", 0)]


def test_library_c_code_imports_only_loaded_non_test_modules():
    imp = guards.make_import(DEFAULT_IMPORTS, guards.make_getattr(DEFAULT_IMPORTS))
    assert imp("numpy", fromlist=[]) is np
    for name in ("numpy.testing", "scipy.stats.tests", "_pytest", "never_loaded_module"):
        with pytest.raises(ImportError):
            imp(name, fromlist=[])


def test_an_import_raising_a_base_exception_becomes_an_import_error(monkeypatch):
    import importlib

    class Skipped(BaseException):  # what pytest.skip raises at import time
        pass

    def skipping(name):
        raise Skipped()

    monkeypatch.setattr(importlib, "import_module", skipping)
    imp = guards.make_import(DEFAULT_IMPORTS, guards.make_getattr(DEFAULT_IMPORTS))
    with pytest.raises(ImportError, match="Skipped"):
        imp("numpy")


def test_ndarray_is_still_a_type_for_isinstance_and_annotations(guarded_parent):
    body = ("def f(x: np.ndarray) -> np.ndarray:\n    return x\n"
            "print(isinstance(f(X_train), np.ndarray), type(X_train) == np.ndarray, np.ndarray((2, 3)).shape)\n"
            "return X_train[:n_samples]")
    res = run_program(program(body), np.ones((4, D)), 2, lambda A: A.sum(1))
    assert (res.status, res.stdout) == ("ok", "True True (2, 3)\n"), res.message


def test_type_is_a_query_that_cannot_create_classes():
    glb = guards.make_globals(DEFAULT_IMPORTS, guards.PrintSink(100))
    t = glb["__builtins__"]["type"](1)
    assert t == int and repr(t) == "<class 'int'>" and not isinstance(t, type)
    assert glb["__builtins__"]["isinstance"](True, t)
    with pytest.raises(guards.SandboxViolation):
        t("A", (), {})


def test_guarded_import_refuses_and_checks_fromlist():
    g = guards.make_getattr(DEFAULT_IMPORTS)
    imp = guards.make_import(DEFAULT_IMPORTS, g)
    assert imp("numpy") is np
    with pytest.raises(guards.SandboxViolation):
        imp("os")
    with pytest.raises(guards.SandboxViolation):
        imp("numpy", level=1)
    with pytest.raises(guards.SandboxViolation):
        imp("numpy", fromlist=("ctypeslib",))
    with pytest.raises(guards.SandboxViolation):
        imp("scipy.stats.tests")
    seeded = guards.make_globals(DEFAULT_IMPORTS, guards.PrintSink(10))["__builtins__"]["__import__"]
    assert seeded("numpy.random", fromlist=("default_rng",)).default_rng is not np.random.default_rng


def test_write_guard_allows_items_refuses_attributes():
    a = np.zeros(3)
    guards.guarded_write(a)[0] = 1.0
    assert a[0] == 1.0
    with pytest.raises(guards.SandboxViolation):
        guards.guarded_write(a).shape = (1, 3)
    with pytest.raises(guards.SandboxViolation):
        guards.guarded_write(np)


# -- isolation alone (layer 3 without layers 1-2) ---------------------------------------
def _run_isolated(probe, limits):
    """Fork, isolate like the worker does, run ``probe``, return its JSON report."""
    import tempfile

    from das.sandbox.protocol import Task as _Task
    from das.sandbox.worker import isolate

    workdir = tempfile.mkdtemp(prefix="das-test-")
    c_read, p_write = os.pipe()
    p_read, c_write = os.pipe()
    task = _Task(None, DEFAULT_IMPORTS, np.zeros((1, 1)), 1, None, 0, limits, workdir,
                 c_read, c_write)
    pid = os.fork()
    if pid == 0:
        try:
            isolate(task)
            payload = probe()
            payload["workdir_files"] = os.listdir(".")
            protocol.send_frame(c_write, protocol.INFO, protocol.encode_json(payload))
        finally:
            os._exit(0)
    os.close(c_write)
    os.close(c_read)
    chunks = []
    while True:
        chunk = os.read(p_read, 1 << 16)
        if not chunk:
            break
        chunks.append(chunk)
    os.close(p_read)
    os.close(p_write)
    os.waitpid(pid, 0)
    import shutil

    shutil.rmtree(workdir)
    data = b"".join(chunks)
    return json.loads(data[protocol.HEADER.size:]), workdir


# Unrestricted code inside the real sandbox (bwrap + seccomp allow-list), attempt by
# attempt: tests/test_sandbox_containment.py.


def _write_probe():
    """Without seccomp (never fork here: as root nothing else would stop it)."""
    out = {"env": dict(os.environ)}
    try:
        with open("local_file", "w") as fh:
            fh.write("x" * 10)
        out["write"] = "ALLOWED"
    except OSError as exc:
        out["write"] = type(exc).__name__
    out["size"] = os.path.getsize("local_file") if os.path.exists("local_file") else None
    return out


def test_isolation_without_seccomp_still_scrubs_and_limits(guarded_parent):
    report, _ = _run_isolated(_write_probe, Limits(seccomp=False))
    assert "ANTHROPIC_API_KEY" not in report["env"] and "GITHUB_TOKEN" not in report["env"]
    # RLIMIT_FSIZE=0 stops data reaching disk even where seccomp is absent.
    assert report["write"] == "OSError" and report["size"] == 0


def test_seccomp_filter_is_well_formed():
    code = seccomp.build_filter((1, 2, 5), 1)
    assert len(code) % 8 == 0 and 0 < len(code) // 8 < 4096  # kernel BPF_MAXINSNS
    assert not {"fork", "clone", "execve", "socket", "kill", "ptrace", "unlink"} & set(seccomp.ALLOWED_SYSCALLS)


def test_key_in_the_initial_environment_block_is_wiped(tmp_path):
    # os.environ.clear() leaves the strings the interpreter started with in
    # memory and in /proc/self/environ, which a forked worker inherits.
    import subprocess
    import sys

    script = """
import os
from das.sandbox.worker import wipe_initial_environment
def leaked():
    with open("/proc/self/environ", "rb") as f:
        return b"sk-ant-initial-block" in f.read()
pid = os.fork()
if pid == 0:
    before = leaked()
    os.environ.clear()
    wipe_initial_environment()
    print(before, leaked(), flush=True)
    os._exit(0)
os.waitpid(pid, 0)
"""
    env = {**os.environ, "ANTHROPIC_API_KEY": "sk-ant-initial-block"}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True,
                         timeout=60)
    assert out.stdout.split() == ["True", "False"], out.stderr


def test_isolate_wipes_the_initial_environment():
    import inspect

    from das.sandbox import worker

    source = inspect.getsource(worker.detach)
    assert source.index("os.environ.clear()") < source.index("wipe_initial_environment()")


# -- values handed out by library code (red team F1, F3 clock) ------------------------
#: The red team's escape (p6_escape.py): kneighbors_graph hands out a csr_matrix
#: whose index arrays sparsetools trusts -> read/write any address -> real builtins.
ESCAPE_PROGRAM = '''import numpy as np
from sklearn.neighbors import NearestNeighbors

def generate_hard_anomalies(n_samples, model, X_train):
    width = 4096
    pts = np.arange(float(width)).reshape(width, 1)
    wide = NearestNeighbors(n_neighbors=1).fit(pts).kneighbors_graph(pts)
    vec = np.zeros(width)
    found = []
    for k0 in (0, -width, width, -2 * width):
        wide.indices[:] = np.arange(width) + k0   # out-of-bounds reads
        w = np.array(wide.dot(vec)).view(np.int64)
        found.append(int((w != 0).sum()))
    print("ESCAPED reads", found)
    small = NearestNeighbors(n_neighbors=1).fit(pts[:4]).kneighbors_graph(pts[:4])
    small.indices[0] = 1 << 20                    # out-of-bounds write
    small.toarray(out=np.zeros((4, 4)))
    print("ESCAPED write")
    return np.zeros((n_samples, X_train.shape[1]))
'''

#: Values no program may hold, however reached: (name, body, needle).
REFUSED_VALUES = [
    ("sparse-graph", "from sklearn.neighbors import NearestNeighbors\n"
                     "g = NearestNeighbors(n_neighbors=1).fit(X_train).kneighbors_graph(X_train)", "csr_matrix"),
    ("forest-trees", "from sklearn.ensemble import IsolationForest\n"
                     "t = IsolationForest(n_estimators=2, random_state=0).fit(X_train).estimators_", "ExtraTree"),
    ("forest-getitem", "from sklearn.ensemble import IsolationForest\n"
                       "t = IsolationForest(n_estimators=2, random_state=0).fit(X_train)[0]", "ExtraTree"),
    ("forest-iteration", "from sklearn.ensemble import IsolationForest\n"
                         "for t in IsolationForest(n_estimators=2, random_state=0).fit(X_train):\n    pass",
     "ExtraTree"),
    ("forest-list-then-attribute", "from sklearn.ensemble import IsolationForest\n"
                                   "t = list(IsolationForest(n_estimators=2, random_state=0).fit(X_train))\n"
                                   "n = t[0].tree_", "ExtraTree"),
    ("forest-unpacking", "from sklearn.ensemble import IsolationForest\n"
                         "a, b = IsolationForest(n_estimators=2, random_state=0).fit(X_train)", "ExtraTree"),
    ("kdtree-memoryview", "from sklearn.neighbors import KDTree\na = KDTree(X_train).node_data", "memoryview"),
    ("ckdtree-nodes", "from scipy.spatial import cKDTree\na = cKDTree(X_train).tree", "cKDTreeNode"),
    ("object-array", "a = np.array([1, 'a', None], dtype='O')", "object"),
    ("object-astype", "a = X_train.astype('O')", "object"),
    ("record-array", "a = np.zeros(2, dtype=[('a', 'f8')])", "records"),
    ("bit-generator", "a = np.random.default_rng(0).bit_generator", "PCG64"),
    # the clock: red-team p2_timebomb.py and variants
    ("clock-timebomb", 'now = np.array(["now"], dtype="datetime64[s]").astype(np.int64)[0]', "datetime64"),
    ("clock-astype", 'now = np.array(["now"]).astype("M8[s]")', "M8[s]"),
    ("clock-runtime-dtype", 'now = np.array(["now"]).astype("date" + "time64[" + "s]")', "datetime64[s]"),
    ("clock-dtype-object", 'd = np.dtype("M8[s]")\nnow = np.array(["now"], d)', "datetime64"),
    ("clock-view", "t = np.zeros(2, dtype=np.int64).view('m8[s]')", "m8[s]"),
    ("clock-ndarray", "t = np.ndarray((1,), 'M8[s]')", "datetime64"),
    ("clock-scalar-type", 't = np.dtype("M8[s]").type', "datetime64"),
]


@pytest.mark.parametrize("name,body,needle", REFUSED_VALUES, ids=[v[0] for v in REFUSED_VALUES])
def test_refused_values_are_a_violation_even_when_caught(guarded_parent, name, body, needle):
    caught = f"try:\n{textwrap.indent(body, '    ')}\nexcept Exception:\n    pass\nprint('survived')"
    res = run_program(program(caught + "\nreturn X_train[:n_samples]"), np.random.default_rng(0).normal(size=(40, D)),
                      2, lambda A: A.sum(axis=1), limits=Limits(timeout_s=20))
    assert res.status == VIOLATION, res.message
    assert "value-not-allowed" in res.message or "numpy-denied" in res.message
    assert needle in res.message
    assert res.output is None and "survived" not in res.stdout


def test_the_sparse_matrix_escape_ends_as_a_violation(guarded_parent):
    res = run_program(ESCAPE_PROGRAM, np.random.default_rng(0).normal(size=(500, 4)), 10,
                      lambda A: A.sum(axis=1), limits=Limits(timeout_s=30))
    assert res.status == VIOLATION, res.message
    assert res.message.startswith("Line 7: value-not-allowed")
    assert "ESCAPED" not in res.stdout and res.output is None


@pytest.mark.parametrize("body,error", [
    ("from scipy.spatial import cKDTree\ncKDTree(X_train).indices[0] = 10 ** 9", "read-only"),
    ("from sklearn.cluster import KMeans\nKMeans(2, n_init=1, random_state=0).fit(X_train).cluster_centers_[0] = 1",
     "read-only"),
    ("from scipy.spatial import Delaunay\nindptr, idx = Delaunay(X_train[:, :2]).vertex_neighbor_vertices\n"
     "idx[0] = 10 ** 9", "read-only"),
])
def test_a_library_objects_arrays_are_handed_out_read_only(guarded_parent, body, error):
    res = run_program(program(body + "\nreturn X_train[:n_samples]"), np.random.default_rng(0).normal(size=(40, D)),
                      2, lambda A: A.sum(axis=1), limits=Limits(timeout_s=20))
    assert res.status == "runtime-error" and error in res.message, res.message


@pytest.mark.parametrize("body", ["a.flags.writeable = True", "a.flags['WRITEABLE'] = True"])
def test_read_only_cannot_be_switched_off(guarded_parent, body):
    res = run_program(program(f"from scipy.spatial import cKDTree\na = cKDTree(X_train).indices\n{body}"
                              "\nreturn X_train[:n_samples]"),
                      np.random.default_rng(0).normal(size=(40, D)), 2, lambda A: A.sum(axis=1))
    assert res.status == VIOLATION, res.message


def test_allowed_library_values_still_work(guarded_parent):
    body = '''
    from scipy import optimize, stats
    from sklearn.cluster import KMeans
    from sklearn.neighbors import NearestNeighbors
    dist, idx = NearestNeighbors(n_neighbors=2).fit(X_train).kneighbors(X_train)
    centers = KMeans(2, n_init=1, random_state=0).fit(X_train).cluster_centers_.copy()
    centers[0] = 0.0
    res = optimize.minimize(lambda v: float((v ** 2).sum()), np.ones(2), method="L-BFGS-B")
    r = stats.pearsonr(X_train[:, 0], X_train[:, 1])
    frozen = stats.norm(0, 1)
    parts = {k: v for k, v in dict(a=1, b=2).items()}
    total = np.add.reduce(X_train, axis=0) + np.maximum.accumulate(X_train, axis=0)[-1]
    rows = [row.sum() for row in X_train] + [i for i, _ in np.ndenumerate(X_train[:1])]
    print(idx.shape, np.abs(res.x.round(3)).tolist(), res.hess_inv.todense().shape, float(r.statistic) <= 1,
          frozen.rvs(2, random_state=0).shape, sorted(parts), total.shape, len(rows))
    return X_train[:n_samples] + centers[:1] * 0
    '''
    res = run_program(program(body), np.random.default_rng(0).normal(size=(40, D)), 2, lambda A: A.sum(axis=1),
                      limits=Limits(timeout_s=30))
    assert res.status == "ok", res.message
    assert res.stdout.startswith("(40, 2) [0.0, 0.0] (2, 2) True (2,) ['a', 'b'] (3,) 43")


def test_what_library_code_passes_to_a_program_callback_is_checked():
    seen = []
    glb = guards.make_globals(DEFAULT_IMPORTS, guards.PrintSink(100), on_refusal=seen.append)
    exec(compile_restricted("def f(x):\n    return x\n", PROGRAM_FILENAME, "exec", policy=ProgramPolicy), glb)
    values = guards.ValueCheck(guards.make_refuse(seen.append))
    library = guards.CheckedCallable(lambda cb, arg: cb(arg), values, "library")
    assert library(glb["f"], np.ones(2)).tolist() == [1.0, 1.0]
    with pytest.raises(guards.SandboxViolation):
        library(glb["f"], memoryview(b"raw"))
    assert [finding.rule for finding in seen] == ["value-not-allowed"]
    assert 'passed to "f"' in seen[0].message


# -- red team 2: C-level builtins iterating library objects (e1_objarray, e2_tree_swap_oob) --
GB = ("from sklearn.ensemble import GradientBoostingRegressor\n"
      "gb = GradientBoostingRegressor(n_estimators=2, max_depth=1, random_state=0).fit(X_train, X_train[:, 0])\n")

E1_OBJARRAY = '''
import numpy as np
from sklearn.ensemble import GradientBoostingRegressor

def generate_hard_anomalies(n_samples, model, X_train):
    X = np.asarray(X_train, dtype=np.float64)
    gb = GradientBoostingRegressor(n_estimators=2, max_depth=1).fit(X, X[:, 0])
    try:
        rows = list(gb)
        for row in rows:
            print("LEAK", repr(row), len(bytes(row)))
        for row in rows:
            row[0] = 7
    except Exception:
        pass
    print("survived")
    return np.zeros((n_samples, X.shape[1])) + np.arange(n_samples)[:, None]
'''

E2_TREE_SWAP = '''
import numpy as np
from sklearn.ensemble import GradientBoostingRegressor

def generate_hard_anomalies(n_samples, model, X_train):
    rng = np.random.default_rng(0)
    wide = rng.normal(size=(64, 4096))
    y = wide[:, 4095]
    big = GradientBoostingRegressor(n_estimators=1, max_depth=1, random_state=0).fit(wide, y)
    small = GradientBoostingRegressor(n_estimators=2, max_depth=1, random_state=0).fit(wide[:, :1], y)
    stolen = None
    try:
        for row in list(big):
            for t in row:
                stolen = t
        i = 0
        for row in list(small):
            if i == 1:
                row[0] = stolen
            i = i + 1
    except Exception:
        pass
    print("survived", [list(np.round(small.predict(np.zeros((8, 1)) + rep), 3)) for rep in range(4)])
    print("raw pointer bytes:", bytes(list(big)[0]).hex())
    return np.zeros((n_samples, X_train.shape[1])) + np.arange(n_samples)[:, None]
'''


def _run_caught(src):
    return run_program(src, np.random.default_rng(0).normal(size=(50, D)), 5, lambda Z: np.zeros(len(Z)),
                       seed=0, limits=Limits(timeout_s=30))


@pytest.mark.parametrize("src", [E1_OBJARRAY, E2_TREE_SWAP], ids=["e1-objarray", "e2-tree-swap-oob"])
def test_builtins_do_not_hand_out_object_arrays(guarded_parent, src):
    res = _run_caught(src)
    assert res.status == VIOLATION, res.message
    assert "value-not-allowed" in res.message and "object" in res.message
    assert "survived" not in res.stdout and "LEAK" not in res.stdout and "pointer" not in res.stdout
    assert res.output is None


#: Every iterating builtin, fed a library ensemble: (name, body).
BUILTIN_ROUTES = [
    ("list", "r = list(gb)"),
    ("tuple", "r = tuple(gb)"),
    ("zip", "r = [a for a, b in zip(gb, range(2))]"),
    ("zip-list", "r = list(zip(gb, gb))"),
    ("map", "r = list(map(lambda t: t, gb))"),
    ("filter", "r = list(filter(None, gb))"),
    ("sorted", "r = sorted(gb, key=lambda t: 0)"),
    ("enumerate", "r = [t for i, t in enumerate(gb)]"),
    ("enumerate-list", "r = list(enumerate(gb))"),
    ("dict", "r = dict(enumerate(gb))"),
    ("dict-zip", "r = dict(zip(range(2), gb))"),
    ("next-iter", "r = next(iter(gb))"),
    ("min-key", "r = min(gb, key=lambda t: 0)"),
    ("max-key", "r = max(gb, key=lambda t: 0)"),
    ("set", "r = set(map(tuple, gb))"),
    ("reversed", "r = list(reversed(list(gb)))"),
    ("sum", "r = sum(gb)"),
    ("extend-then-iterate", "r = []\nr.extend(gb)\nfor t in r:\n    pass"),
    ("inplace-then-unpack", "r = []\nr += gb\na, b = r"),
    ("bytes", "r = bytes(gb)"),
    ("star-list", "r = [*gb]"),
    ("star-call", "r = print(*gb)"),
    ("star-tuple", "r = (0, *gb)"),
]


@pytest.mark.parametrize("name,body", BUILTIN_ROUTES, ids=[r[0] for r in BUILTIN_ROUTES])
def test_every_iterating_builtin_checks_library_items(guarded_parent, name, body):
    caught = f"try:\n{textwrap.indent(GB + body, '    ')}\n    print('LEAK', r)\nexcept Exception:\n    pass\n" \
             "print('survived')\nreturn X_train[:n_samples]"
    res = _run_caught(program(caught))
    assert res.status == VIOLATION, (res.message, res.stdout)
    assert "value-not-allowed" in res.message and "object" in res.message, res.message
    assert "survived" not in res.stdout and "LEAK" not in res.stdout
    assert res.output is None


def test_bytes_of_a_non_numeric_array_is_refused():
    seen = []
    glb = guards.make_globals(DEFAULT_IMPORTS, guards.PrintSink(100), on_refusal=seen.append)
    assert glb["__builtins__"]["bytes"](np.arange(2, dtype=np.uint8)) == b"\x00\x01"
    with pytest.raises(guards.SandboxViolation):
        glb["__builtins__"]["bytes"](np.array([None, 1], dtype=object))
    assert [finding.rule for finding in seen] == ["value-not-allowed"]


def test_checked_builtins_keep_their_meaning(guarded_parent):
    body = '''
    pairs = list(zip([3, 1, 2], "abc"))
    a = sorted(pairs, key=lambda p: p[0], reverse=True)
    b = min([4, 2, 8], key=lambda v: -v), max(3, 9), max([1.5, 2.5]), sum([1, 2], 10)
    c = dict(zip("xy", range(2))), dict([("k", 1)], z=2), list(enumerate("ab", 1))
    d = list(reversed(range(3))), list(reversed([1, 2])), next(iter([5])), next(iter([]), "end")
    e = any(x > 1 for x in [1, 2]), all([]), tuple(map(abs, [-1, -2])), list(filter(None, [0, 1]))
    f = bytes([104, 105]), bytes(2), frozenset([1, 1]), set("aa"), isinstance([], list), type([]) == list
    g = [len(r) for r in list(X_train[:2])], sorted(np.array([3.0, 1.0]))[0]
    print(a, b, c, d, e, f, g)
    return X_train[:n_samples]
    '''
    res = run_program(program(body), np.random.default_rng(0).normal(size=(40, D)), 2, lambda A: A.sum(axis=1),
                      limits=Limits(timeout_s=30))
    assert res.status == "ok", res.message
    assert res.stdout.strip() == (
        "[(3, 'a'), (2, 'c'), (1, 'b')] (8, 9, 2.5, 13) ({'x': 0, 'y': 1}, {'k': 1, 'z': 2}, [(1, 'a'), (2, 'b')]) "
        "([2, 1, 0], [2, 1], 5, 'end') (True, True, (1, 2), [1]) (b'hi', b'\\x00\\x00', frozenset({1}), {'a'}, "
        "True, True) ([3, 3], np.float64(1.0))")


def test_yield_from_a_library_object_is_checked(guarded_parent):
    body = GB + "def g():\n    yield from gb\ntry:\n    for t in g():\n        print('LEAK', t)\nexcept Exception:\n    pass\n" \
                "print('survived')\nreturn X_train[:n_samples]"
    res = _run_caught(program(body))
    assert res.status == VIOLATION, res.message
    assert "object" in res.message and "LEAK" not in res.stdout and "survived" not in res.stdout


def test_star_unpacking_of_plain_values_still_works(guarded_parent):
    body = """
    shape = (*X_train.shape, 1)
    parts = [*range(2), *[5.0]]
    print(shape[2], parts, max(*[3, 4]))
    return X_train[:n_samples]
    """
    res = run_program(program(body), np.random.default_rng(0).normal(size=(40, D)), 2, lambda A: A.sum(axis=1),
                      limits=Limits(timeout_s=30))
    assert res.status == "ok", res.message
    assert res.stdout.strip() == "1 [0, 1, 5.0] 4"


# -- issue 20: every way a library value enters program code is checked --------------
#: A list filled by C code (``list.extend``) with a forest's object arrays; each
#: attack hands those items to program code through another kind of callable,
#: keeps one and writes into it (the tree swap) or reads its pointer bytes.
FILLED = GB + "r = []\nr.extend(gb)\nbox = []\n"
#: (name, body, where the refusal must name the entry)
CALLBACK_ROUTES = [
    ("generator-send-as-sort-key",
     "def keep():\n    while True:\n        box.append((yield 0))\ng = keep()\nnext(g)\nr.sort(key=g.send)",
     "a value sent into a program generator"),
    ("program-class-as-sort-key",
     "class Keep(object):\n    def __init__(self, row):\n        box.append(row)\nr.sort(key=Keep)",
     'an argument library code passed to "__init__"'),
    ("bound-method-as-sort-key",
     "class Keep(object):\n    def take(self, row):\n        box.append(row)\n        return 0\n"
     "r.sort(key=Keep().take)", 'an argument library code passed to "take"'),
    ("closure-through-checked-callable",
     "def take(row):\n    box.append(row)\n    return 0\nkey = np.asarray\nr.sort(key=lambda v: take(v))",
     'an argument library code passed to "<lambda>"'),
]


@pytest.mark.parametrize("name,body,needle", CALLBACK_ROUTES, ids=[r[0] for r in CALLBACK_ROUTES])
def test_library_values_reach_program_callables_only_checked(guarded_parent, name, body, needle):
    caught = (f"try:\n{textwrap.indent(FILLED + body, '    ')}\n    box[0][0] = 7\n    print('LEAK', len(box))\n"
              f"except Exception:\n    pass\nprint('survived')\nreturn X_train[:n_samples]")
    res = _run_caught(program(caught))
    assert res.status == VIOLATION, (res.message, res.stdout)
    assert needle in res.message and "object" in res.message, res.message
    assert "LEAK" not in res.stdout and "survived" not in res.stdout and res.output is None


@pytest.mark.parametrize("body,needle", [
    ("x = b''.join(gb)", "bytes.join takes bytes items only"),
    ("x = bytes.join(b'', gb)", "bytes.join takes bytes items only"),
    ("x = b'%s' % X_train", "bytes formatting takes bytes and numbers only"),
    ("x = b'%b %b' % (b'a', X_train)", "bytes formatting takes bytes and numbers only"),
    ("x = b'%s'\nx %= X_train", "bytes formatting takes bytes and numbers only"),
    ("rs = np.random.RandomState(0)\nx = rs.get_state()", '"get_state" reads or writes'),
    ("rs = np.random.RandomState(0)\nrs.set_state(('MT19937', np.zeros(624, dtype=np.uint32), 10 ** 6))",
     '"set_state" reads or writes'),
    ("import random\nx = random.Random(0).getstate()", '"getstate" reads or writes'),
])
def test_raw_bytes_and_generator_state_are_refused(guarded_parent, body, needle):
    caught = f"try:\n{textwrap.indent(GB + body, '    ')}\n    print('LEAK', x)\nexcept Exception:\n    pass\n" \
             "print('survived')\nreturn X_train[:n_samples]"
    res = _run_caught(program(caught))
    assert res.status == VIOLATION, (res.message, res.stdout)
    assert needle in res.message
    assert "LEAK" not in res.stdout and "survived" not in res.stdout and res.output is None


def test_plain_bytes_formatting_and_join_still_work(guarded_parent):
    body = "print(b'-'.join([b'a', b'b']), bytes.join(b'', [b'c']), b'%d:%s' % (3, b'x'), '%.1f|%s' % (1.25, 'k'))\n" \
           "return X_train[:n_samples]"
    res = _run_caught(program(body))
    assert res.status == "ok", res.message
    assert res.stdout.strip() == "b'a-b' b'c' b'3:x' 1.2|k"


#: Text that would show an object address, however the program makes it.
ADDRESS_TEXTS = [
    "repr(f)", "str(f)", "f'{f}'", "f'{f!r:>80}'", "'%s' % (f,)", "'%r' % f", "'{}'.format(f)",
    "str.format('{}', f)", "'{x}'.format_map({'x': f})", "str([f, np.random.default_rng(0)])",
    "repr(Box())", "str(g)", "repr(g.send)", "repr(np.mean)",
]


def test_printed_objects_show_no_address(guarded_parent):
    body = ("class Box(object):\n    pass\nf = lambda: 0\nprint(Box(), f, [Box()], (f,), {'k': model.predict_score}, np.mean,\n"
            "      sep=f, end=repr(f))\nreturn X_train[:n_samples]")
    res = _run_caught(program(body))
    assert res.status == "ok", res.message
    assert "<locals>.Box object>" in res.stdout and "<function ModelProxy" in res.stdout
    assert " at 0x" not in res.stdout and "0x" not in res.stdout


@pytest.mark.parametrize("text", ADDRESS_TEXTS)
def test_no_object_address_reaches_a_program(guarded_parent, text):
    body = (f"class Box(object):\n    pass\nf = lambda: 0\ndef gen():\n    yield 1\ng = gen()\ns = {text}\n"
            "digits = [c for c in s if c in '0123456789abcdef']\nprint(s)\n"
            "return X_train[:n_samples] * 0 + len(s) + len(digits)")
    res = _run_caught(program(body))
    assert res.status == "ok", res.message
    assert " at 0x" not in res.stdout and "0x7f" not in res.stdout.lower()


def test_library_text_holding_an_address_is_refused(guarded_parent):
    body = ("f = lambda: 0\ntry:\n    np.asarray([1.0]).astype(f)\nexcept TypeError as e:\n    print(str(e))\n"
            "    a = e.args\n    print('LEAK', a)\nreturn X_train[:n_samples]")
    res = _run_caught(program(body))
    assert res.status == VIOLATION and "holds text with an object address" in res.message, res.message
    assert " at 0x" not in res.stdout and "LEAK" not in res.stdout and "<lambda>>" in res.stdout


@pytest.mark.parametrize("use", ["for f in s:\n    pass", "x = list(s)", "x = []\nx.extend(s)", "x = s.pop()",
                                 "x = str(s)", "x = [*s]", "a, b = s",
                                 # every other route of a set's order into a list or a text
                                 "x = []\nx += s", "x = [0]\nx[0:1] = s", "x = [0]\nx[:] = s", "print(s)",
                                 "print([s])", "x = f'{[1, s]}'", "x = '{}'.format((s,))", "x = '%s' % [s]",
                                 "x = repr({'k': s})", "x = str.format('{k}', k=s)", "x = tuple(s)",
                                 "x = {}.fromkeys(s)", "x = list(zip(s))",
                                 "x = list(enumerate(s))", "x = min(s, key=lambda o: 0)", "x = ''.join(s)"])
def test_sets_ordered_by_address_are_not_iterated(guarded_parent, use):
    caught = f"try:\n    s = {{lambda: 0, lambda: 1}}\n{textwrap.indent(use, '    ')}\nexcept Exception:\n    pass\n" \
             "print('survived')\nreturn X_train[:n_samples]"
    res = _run_caught(program(caught))
    assert res.status == VIOLATION and "its order follows their addresses" in res.message, res.message
    ok = _run_caught(program("print(sorted({3, 1}), list({'a'}), [t for t in {(1, 'x')}])\nreturn X_train[:n_samples]"))
    assert ok.status == "ok" and ok.stdout.strip() == "[1, 3] ['a'] [(1, 'x')]", ok.message


def test_program_functions_still_take_what_the_program_holds(guarded_parent):
    body = '''
    def apply(fn, data, score, mod, it):
        return fn(data[:, 0]), score(data[:2]).shape, mod.pi > 3, next(it)
    class Holder(object):
        def __init__(self, values, key=len):
            self.values = sorted(values, key=key)
    import math
    h = Holder([[1, 2], [3]])
    def count():
        got = yield 1
        yield got
    g = count()
    first = next(g)
    print(apply(sum, X_train, model.predict_score, math, iter([4])), h.values, first, g.send("x"),
          sorted([3, 1], key=lambda v: -v), list(map(lambda a, b: a + b, [1, 2], [3, 4])),
          len(sorted([zip([1], [2]), iter([3]), enumerate("a"), reversed([1])], key=lambda it: 0)))
    return X_train[:n_samples]
    '''
    res = run_program(program(body), np.ones((6, D)), 2, lambda A: A.sum(axis=1), limits=Limits(timeout_s=30))
    assert res.status == "ok", res.message
    assert res.stdout.strip() == "(np.float64(6.0), (2,), True, 4) [[3], [1, 2]] 1 x [3, 1] [4, 6] 4"


def test_what_a_with_statement_enters_is_checked(guarded_parent):
    seen = []
    glb = guards.make_globals(DEFAULT_IMPORTS, guards.PrintSink(100), on_refusal=seen.append)

    class Leaky:
        def __enter__(self):
            return memoryview(b"raw")

        def __exit__(self, *exc):
            return False

    glb["leaky"] = Leaky()
    source = "def enter():\n    with leaky as got:\n        return got\n"
    exec(compile_restricted(rewrite_augmented(ast.parse(source)), PROGRAM_FILENAME, "exec", policy=ProgramPolicy), glb)
    with pytest.raises(guards.SandboxViolation):
        glb["enter"]()
    assert "what a with statement entered is a builtins.memoryview object" in seen[-1].message
    body = ("import warnings\nwith np.errstate(all='ignore') as state:\n    x = np.ones(1) / 0\n"
            "with warnings.catch_warnings(record=True) as log:\n    warnings.warn('w')\nprint(len(log), x)\n"
            "return X_train[:n_samples]")
    res = _run_caught(program(body))
    assert res.status == "ok" and res.stdout.strip() == "1 [inf]", res.message


def test_checked_str_and_bytes_keep_their_meaning(guarded_parent):
    body = ("print(np.arange(2).astype(str), np.array([b'a'], dtype=bytes), str.upper('a'), list(map(str, [1])),\n"
            "      isinstance('a', str), type('a') == str, str(3), repr('q'), f'{2:03d}', '%05.1f' % 2.25, 7 % 3)\n"
            "return X_train[:n_samples]")
    res = _run_caught(program(body))
    assert res.status == "ok", res.message
    assert res.stdout.strip() == "['0' '1'] [b'a'] A ['1'] True True 3 'q' 002 002.2 1"


def test_no_allocation_hands_out_stale_memory(guarded_parent):
    """``np.empty``/``empty_like``/``np.ndarray(shape)``, ``np.pad(mode="empty")``
    and ufuncs with ``where=`` but no ``out=`` would show freed heap contents
    (pointers, paths): the program sees zeros instead."""
    body = '''
    sizes = (64, 512, 4096)
    for k in range(30):
        junk = [np.arange(float(s)) + k + 0.5 for s in sizes]
        junk = None
    m = np.zeros(4096, dtype=bool)
    outs = [np.empty(4096, dtype=np.int64), np.empty_like(np.ones(512, dtype=np.int64)),
            np.ndarray((4096,), np.int64), np.ndarray(64, dtype=np.int64, order="F"),
            np.pad(np.ones(1, dtype=np.int64), 512, mode="empty"),
            np.add(np.ones(4096), 1.0, where=m).view(np.int64),
            np.divmod(np.ones(512), 2.0, where=m[:512])[1].view(np.int64),
            np.add.outer(np.ones(64), np.ones(64), where=m[:64]).view(np.int64).ravel(),
            np.float64(np.add(1.0, 2.0, where=False)) == 0.0]
    print([int(np.count_nonzero(o)) for o in outs])
    return X_train[:n_samples]
    '''
    res = _run_caught(program(body))
    assert res.status == "ok", res.message
    assert res.stdout.strip() == "[0, 0, 0, 0, 1, 0, 0, 0, 1]", res.stdout
    kept = _run_caught(program("print(np.divide(np.ones(3), np.array([1.0, 0, 2]), out=np.full(3, 7.0),"
                               " where=np.array([1, 0, 1], bool)), np.empty((2, 0)).shape)\nreturn X_train[:n_samples]"))
    assert kept.status == "ok" and kept.stdout.strip() == "[1.  7.  0.5] (2, 0)", kept.message


@pytest.mark.parametrize("make", [
    "o = np.ones(2) + [2 ** 100, 1]", "o = [2 ** 100, 1] - np.ones(2)", "o = np.ones(2) % [2 ** 100, 1]",
    "o = -(np.ones(2) * [2 ** 100, 1])", "o = [2 ** 100, 1]\no -= np.ones(2)", "o = sum([np.ones(2), [2 ** 100, 1]])",
    "o = pow(np.ones(2), [2 ** 100, 1])", "o = np.ones(2) // [2 ** 100, 1]",
    "o = abs(np.ones(2) * 0 + [2 ** 100, 1])"])
def test_operators_make_no_object_array_a_program_holds(guarded_parent, make):
    body = f"{make}\no[0] = model.predict_score\nprint('LEAK', len(o))\nreturn X_train[:n_samples]"
    res = _run_caught(program(body))
    assert res.status == VIOLATION, (res.message, res.stdout)
    assert 'dtype "object"' in res.message and "LEAK" not in res.stdout


def test_operators_keep_their_meaning(guarded_parent):
    body = ("a = np.arange(3.0)\nb = -a + 2 * a ** 2 - a / 2 @ np.ones(3)\nc = [1] + [2] * 2\nd = ~np.array([1, 2])\n"
            "e = sum([np.ones(2), 1])\nf = a\nf += 1\nprint(b, c, d, e, abs(-2), pow(2, 3), divmod(7, 2), round(2.5),\n"
            "      not a.any(), f, 'x' * 2, (1, 2) + (3,), {1} | {2}, 7 % 2)\nreturn X_train[:n_samples]")
    res = _run_caught(program(body))
    assert res.status == "ok", res.message
    assert res.stdout.strip() == "[-1.5 -0.5  4.5] [1, 2, 2] [-2 -3] [2. 2.] 2 8 (3, 1) 2 False [1. 2. 3.] xx (1, 2, 3) {1, 2} 1"


def test_a_generator_checks_its_arguments_whoever_resumes_it(guarded_parent):
    """``minimize(method=gen)`` makes the program generator with library values;
    a program ``yield from`` resuming it must not make them look program-passed."""
    red_team = '''
import numpy as np
from scipy.optimize import minimize
store = []
def f(x):
    return float((x ** 2).sum()), 2 * x
def meth(fun, x0, args=(), jac=None, hess=None, hessp=None, bounds=None, constraints=None, callback=None, **kw):
    store.append(fun)
    print("LEAK", fun)
    yield 1
def outer(g):
    yield from g
def generate_hard_anomalies(n_samples, model, X_train):
    g = minimize(f, np.ones(3), jac=True, method=meth)
    for v in outer(g):
        pass
    return X_train[:n_samples]
'''
    res = _run_caught(red_team)
    assert res.status == VIOLATION, (res.message, res.stdout)
    assert 'an argument library code passed to "meth" is a scipy.optimize._optimize.MemoizeJac' in res.message
    assert "LEAK" not in res.stdout
    body = ("class Box(object):\n    pass\ndef rows(data, score, fn, box, items, *more, k=2):\n"
            "    for row in data[:k]:\n        yield fn(row) + score(data[:1])[0] * 0 + len(items) + len(more)\n"
            "def outer(g):\n    yield from g\n"
            "print([float(v) for v in outer(rows(X_train, model.predict_score, lambda r: r.sum(), Box(), [1, 2], 3))])\n"
            "return X_train[:n_samples]")
    ok = _run_caught(program(body))
    assert ok.status == "ok" and ok.stdout.count(",") == 1, ok.message


@pytest.mark.parametrize("reach", ["f = box[0]", "for f in box:\n    pass", "f = next(iter(box))", "f, g = box",
                                   "f = [*box][0]", "f = holder.get('k')"])
def test_callables_reached_through_items_are_checked_like_attributes(guarded_parent, reach):
    import functools

    seen = []
    glb = guards.make_globals(DEFAULT_IMPORTS, guards.PrintSink(100), on_refusal=seen.append)
    glb["box"] = [eval, functools.partial(len)]
    glb["holder"] = {"k": functools.partial(len)}
    source = f"def take():\n{textwrap.indent(reach, '    ')}\n    return f\n"
    exec(compile_restricted(rewrite_augmented(ast.parse(source)), PROGRAM_FILENAME, "exec", policy=ProgramPolicy), glb)
    with pytest.raises(guards.SandboxViolation):
        glb["take"]()
    assert "is a forbidden builtin" in seen[-1].message or 'from module "functools"' in seen[-1].message


@pytest.mark.parametrize("make", [
    "a = np.array([Box(), f], dtype='U200')", "a = np.array([[f]], dtype='S200')", "a = np.asarray([Box()], dtype=str)",
    "a = np.array([np.mean, model.predict_score], dtype='U300')", "a = np.full(2, f, dtype='U99')",
    "a = np.zeros(2, dtype='U99')\na[0] = Box()", "a = np.zeros(2, dtype='U99')\na[:] = [f, f]",
    "a = np.zeros(2, dtype='U99')\na.fill(f)", "a = np.zeros(2, dtype='U99')\nnp.put(a, [0], [f])",
    "a = [np.dtype('U99').type(Box())]", "a = np.array([np.dtype('U99').type(Box())]).view(np.uint32)"])
def test_string_arrays_hold_no_object_address(guarded_parent, make):
    body = (f"class Box(object):\n    pass\nf = lambda: 0\n{make}\ns = a[0]\ni = s.find('0x')\n"
            "print('LEAK', int(s[i + 2:-1], 16))\nreturn X_train[:n_samples]")
    res = _run_caught(program(body))
    assert res.status == VIOLATION, (res.message, res.stdout)
    assert "into text (its address)" in res.message or "holds text with an object address" in res.message
    assert "LEAK" not in res.stdout


def test_string_arrays_of_plain_values_still_work(guarded_parent):
    body = ("a = np.array([1, 'x', 2.5], dtype='U8')\nb = np.zeros(2, dtype='S4')\nb[0] = b'ab'\nb.fill('c')\n"
            "c = np.full(2, 3, dtype=str)\nprint(a, b, c, a[1], list(c), np.array([[1, 2]]).astype(str).tolist(),\n"
            "      c.astype(float), c.astype(np.int64), np.concatenate([a, c]), c.view(np.uint32)[0])\n"
            "return X_train[:n_samples]")
    res = _run_caught(program(body))
    assert res.status == "ok", res.message
    assert res.stdout.strip() == ("['1' 'x' '2.5'] [b'c' b'c'] ['3' '3'] x [np.str_('3'), np.str_('3')] [['1', '2']] "
                                  "[3. 3.] [3 3] ['1' 'x' '2.5' '3' '3'] 51")


def test_an_address_never_enters_a_string_array_the_program_only_compares(guarded_parent):
    """Comparisons and searchsorted would binary-search an address held in a
    string array without reading an item: the write itself is refused."""
    body = ("f = lambda: 0\na = np.zeros(1, dtype='U99')\na[0] = f\n"
            "print('LEAK', a < '<function z', np.searchsorted(a, '<function generate'))\nreturn X_train[:n_samples]")
    res = _run_caught(program(body))
    assert res.status == VIOLATION and "into text (its address)" in res.message, (res.message, res.stdout)
    assert "LEAK" not in res.stdout
