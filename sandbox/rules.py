"""Policy lists shared by the static audit and the runtime guards.

Everything here is a module-level frozenset so that the policy is data, can be
reviewed in one place and cannot be changed at run time by accident.  The lists
are deny-by-default where possible: the audit accepts only the AST node types
in ``ALLOWED_NODES`` and only the imports in the allow-list.
"""
import ast

#: Entry point every synthesis program defines.
ENTRY_POINT = "generate_hard_anomalies"
#: Positional parameters of the entry point (``degree`` is optional, 4th).
ENTRY_PARAMS = ("n_samples", "model", "X_train")
DEGREE_PARAM = "degree"

#: Imports always allowed: pure computation, no I/O.
BASE_IMPORTS = frozenset({"numpy", "math"})
#: Reviewed extra modules that real LLM-written programs use.  Each was read
#: for file, process and native entry points; none is reachable through them
#: once the guarded getattr refuses modules outside this list.  ``random`` is
#: here because the worker seeds it.
REVIEWED_IMPORTS = frozenset({
    "random",
    "scipy.spatial",
    "scipy.stats",
    "sklearn.neighbors",
    "sklearn.cluster",
    "sklearn.decomposition",
    "sklearn.covariance",
})
#: The default allow-list (``allowed_imports=None``): base plus reviewed.
DEFAULT_IMPORTS = BASE_IMPORTS | REVIEWED_IMPORTS

#: numpy sub-modules a program may reach (as attributes or imports).  Any
#: other numpy module (f2py, ctypeslib, lib.format, testing, ...) is refused.
NUMPY_MODULES = frozenset({
    "numpy",
    "numpy.random",
    "numpy.linalg",
    "numpy.fft",
    "numpy.polynomial",
    "numpy.lib.scimath",
})

#: Attribute names refused on every object: numpy (and friends) entry points
#: that touch files, pickles, raw memory or native code.  ``frombuffer`` is
#: refused too: synthesis never needs to reinterpret raw buffers.
NUMPY_DENIED = frozenset({
    "load", "loads", "save", "savez", "savez_compressed", "savetxt",
    "loadtxt", "genfromtxt", "fromfile", "tofile", "fromregex", "memmap",
    "open_memmap", "ctypeslib", "ctypes", "cffi", "f2py", "testing",
    "distutils", "DataSource", "dump", "dumps", "frombuffer", "as_strided",
    "stride_tricks", "lib", "core", "npyio", "source",
    "info", "lookfor", "show_config", "show_runtime", "get_include",
    "byte_bounds", "setbufsize", "getbuffer", "newbuffer", "compat",
    "exceptions", "matlib", "ctypes_load_library", "load_library",
    # np.test / scipy.test run pytest; sklearn.show_versions probes the system
    "test", "show_versions",
})

#: Introspection attributes that lead to frames, code and globals, and the
#: format methods whose field syntax (``"{0.__class__}"``) reads attributes
#: behind the guard's back.
INSPECT_ATTRIBUTES = frozenset({
    "format", "format_map", "vformat", "get_field", "get_value",
    "gi_frame", "gi_code", "gi_yieldfrom", "cr_frame", "cr_code", "cr_await",
    "ag_frame", "ag_code", "tb_frame", "tb_next", "f_back", "f_builtins",
    "f_code", "f_globals", "f_locals", "f_trace", "f_generator", "co_code",
    "func_globals", "func_code", "mro", "im_func", "im_self",
})

#: Builtin names a program may not mention at all.
FORBIDDEN_NAMES = frozenset({
    "eval", "exec", "compile", "open", "__import__", "getattr", "setattr",
    "delattr", "globals", "locals", "vars", "dir", "breakpoint",
    "input", "memoryview", "help", "exit", "quit", "super", "object",
    "classmethod", "staticmethod", "property", "__build_class__",
    "__builtins__", "__loader__", "__spec__", "copyright", "credits",
    "license", "bytearray",
})

#: Modules whose functions must never be handed to a program, whatever
#: object they were reached through.
DENIED_MODULES = frozenset({
    "os", "posix", "nt", "sys", "subprocess", "socket", "shutil", "ctypes",
    "_ctypes", "importlib", "io", "_io", "pathlib", "pickle", "_pickle",
    "marshal", "signal", "_signal", "multiprocessing", "threading",
    "_thread", "gc", "inspect", "types", "code", "codeop", "runpy", "pty",
    "tempfile", "glob", "fcntl", "resource", "mmap", "builtins", "select",
    "asyncio", "concurrent", "urllib", "http", "ftplib", "smtplib", "ssl",
    "webbrowser", "zipimport", "pkgutil", "sysconfig", "platform", "atexit",
    "faulthandler", "tracemalloc", "joblib", "threadpoolctl", "dask",
})

#: AST node types a program may contain.  Anything else (class definitions,
#: global/nonlocal, async, yield, match, try-star ...) is refused: new syntax
#: stays untrusted until reviewed.
ALLOWED_NODES = frozenset({
    ast.Module, ast.FunctionDef, ast.arguments, ast.arg, ast.Return,
    ast.Assign, ast.AugAssign, ast.AnnAssign, ast.For, ast.While, ast.If,
    ast.With, ast.withitem, ast.Raise, ast.Try, ast.ExceptHandler, ast.Assert,
    ast.Import, ast.ImportFrom, ast.alias, ast.Expr, ast.Pass, ast.Break,
    ast.Continue, ast.Delete, ast.BoolOp, ast.BinOp, ast.UnaryOp, ast.Lambda,
    ast.IfExp, ast.Dict, ast.Set, ast.ListComp, ast.SetComp, ast.DictComp,
    ast.GeneratorExp, ast.comprehension, ast.Compare, ast.Call, ast.keyword,
    ast.FormattedValue, ast.JoinedStr, ast.Constant, ast.Attribute,
    ast.Subscript, ast.Starred, ast.Name, ast.List, ast.Tuple, ast.Slice,
    ast.Load, ast.Store, ast.Del, ast.NamedExpr,
    # operators
    ast.And, ast.Or, ast.Add, ast.Sub, ast.Mult, ast.MatMult, ast.Div,
    ast.Mod, ast.Pow, ast.LShift, ast.RShift, ast.BitOr, ast.BitXor,
    ast.BitAnd, ast.FloorDiv, ast.Invert, ast.Not, ast.UAdd, ast.USub,
    ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.Is, ast.IsNot,
    ast.In, ast.NotIn,
})

#: Statements allowed at module level besides the functions.
TOP_LEVEL_NODES = frozenset({
    ast.FunctionDef, ast.Import, ast.ImportFrom, ast.Assign, ast.AnnAssign,
    ast.Expr,
})


def is_dunder(name):
    """Return True for ``__x__``-style names."""
    return len(name) > 4 and name.startswith("__") and name.endswith("__")


def module_allowed(module_name, allowed_imports):
    """Whether a module may be handed to a program.

    numpy is limited to ``NUMPY_MODULES``; other allowed imports include
    their public sub-modules (no component starting with ``_``).
    """
    if any(part.startswith("_") for part in module_name.split(".")):
        return False
    if module_name == "numpy" or module_name.startswith("numpy."):
        return "numpy" in allowed_imports and module_name in NUMPY_MODULES
    return any(
        module_name == allowed or module_name.startswith(allowed + ".")
        for allowed in allowed_imports
        if allowed != "numpy"
    )
