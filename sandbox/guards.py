"""Runtime guards for restricted execution (sandbox layer 2).

RestrictedPython compiles attribute reads, item access, iteration, writes,
printing and imports into calls of hooks (``_getattr_``, ``_getitem_``, ...)
that the globals must provide.  This module builds those globals.  The
guarded getattr refuses dunder/private names, interpreter internals, the
numpy deny-list and any attribute whose value is a module outside the
allow-list or a function from a denied module (``np.f2py.os``,
``np.ctypeslib.ctypes`` ...), so an allowed module cannot lead out.
"""
import builtins
import importlib
import sys
import types

import numpy as np
from RestrictedPython import safe_builtins
from RestrictedPython.Guards import guarded_iter_unpack_sequence, guarded_unpack_sequence

from sandbox import rules

#: Builtin objects never handed to a program, however reached.
_DANGEROUS_OBJECTS = frozenset(
    id(getattr(builtins, name))
    for name in ("eval", "exec", "compile", "open", "__import__", "getattr", "setattr",
                 "delattr", "globals", "locals", "vars", "dir", "breakpoint", "input",
                 "memoryview", "help", "exit", "quit", "__build_class__", "super")
    if hasattr(builtins, name)
)


class SandboxViolation(AttributeError):
    """A program tried to reach something the policy refuses."""


def _module_of(value):
    """``value.__module__`` when it is a string, else None (never raises)."""
    try:
        module = getattr(value, "__module__", None)
    except Exception:  # odd descriptors: treat as unknown
        return None
    return module if isinstance(module, str) else None


def make_getattr(allowed_imports):
    """Return the guarded ``_getattr_`` for an allow-list of modules."""

    def guarded_getattr(obj, name, *default):
        if type(name) is not str:
            raise TypeError("attribute name must be str")
        if name.startswith("_"):
            raise SandboxViolation(f'attribute "{name}" starts with "_"')
        if name in rules.INSPECT_ATTRIBUTES:
            raise SandboxViolation(f'attribute "{name}" gives access to interpreter internals')
        if name in rules.NUMPY_DENIED:
            raise SandboxViolation(f'attribute "{name}" is a denied file/native entry point')
        try:
            value = getattr(obj, name)
        except AttributeError:
            if default:
                return default[0]
            raise
        _check_value(value, name, allowed_imports)
        return value

    return guarded_getattr


def _check_value(value, name, allowed_imports):
    """Refuse modules, builtins and functions that lead out of the policy."""
    if isinstance(value, types.ModuleType):
        if not rules.module_allowed(value.__name__, allowed_imports):
            raise SandboxViolation(f'module "{value.__name__}" (attribute "{name}") is not allowed')
        return
    if id(value) in _DANGEROUS_OBJECTS:
        raise SandboxViolation(f'attribute "{name}" is a forbidden builtin')
    if callable(value):
        module = _module_of(value)
        if module and module.split(".")[0] in rules.DENIED_MODULES:
            raise SandboxViolation(f'attribute "{name}" comes from denied module "{module}"')


def make_import(allowed_imports, guarded_getattr):
    """Return a guarded ``__import__`` honouring the allow-list."""
    trusted_packages = frozenset(name.split(".")[0] for name in allowed_imports)

    def guarded_import(name, globals=None, locals=None, fromlist=(), level=0):
        if isinstance(fromlist, list):
            # C code (PyImport_Import, e.g. numpy's lazy ``numpy._core._methods``)
            # finds ``__import__`` through the running program's builtins and
            # passes a list; ``import`` statements pass a tuple or None, and a
            # program cannot call ``__import__`` itself.  Serve the library's
            # own modules, nothing else.
            return _internal_import(name, trusted_packages)
        if level != 0:
            raise ImportError("relative imports are not allowed")
        if type(name) is not str or not rules.module_allowed(name, allowed_imports) or not any(
            name == a or name.startswith(a + ".") for a in allowed_imports
        ):
            raise ImportError(f'import of "{name}" is not allowed')
        module = importlib.import_module(name)
        for item in fromlist or ():
            # IMPORT_FROM reads attributes directly, so check them here.
            guarded_getattr(module, item)
        if fromlist:
            return module
        return importlib.import_module(name.split(".")[0])

    return guarded_import


def _internal_import(name, trusted_packages):
    """Import on behalf of library C code: loaded modules or trusted packages only."""
    module = sys.modules.get(name)
    if module is not None:
        return module
    if type(name) is str and name.split(".")[0] in trusted_packages:
        return importlib.import_module(name)
    raise ImportError(f'import of "{name}" is not allowed')


class _WriteGuard:
    """Allows item writes on containers; refuses every attribute write."""

    __slots__ = ("_ob",)

    def __init__(self, ob):
        object.__setattr__(self, "_ob", ob)

    def __setitem__(self, key, value):
        self._ob[key] = value

    def __delitem__(self, key):
        del self._ob[key]

    def __setattr__(self, name, value):
        raise SandboxViolation("attribute assignment is not allowed")

    def __delattr__(self, name):
        raise SandboxViolation("attribute deletion is not allowed")


_WRITABLE = (list, dict, set, np.ndarray)


def guarded_write(ob):
    """``_write_`` hook: item writes on lists, dicts and arrays only."""
    if isinstance(ob, _WRITABLE):
        return _WriteGuard(ob)
    raise SandboxViolation(f"writing to {type(ob).__name__} objects is not allowed")


def guarded_getitem(ob, index):
    """``_getitem_`` hook: plain subscription (attributes are guarded elsewhere)."""
    return ob[index]


def guarded_getiter(ob):
    """``_getiter_`` hook."""
    return iter(ob)


_BINARY = {
    "+=": lambda a, b: a + b, "-=": lambda a, b: a - b, "*=": lambda a, b: a * b,
    "/=": lambda a, b: a / b, "//=": lambda a, b: a // b, "%=": lambda a, b: a % b,
    "**=": lambda a, b: a ** b, "@=": lambda a, b: a @ b, "<<=": lambda a, b: a << b,
    ">>=": lambda a, b: a >> b, "&=": lambda a, b: a & b, "|=": lambda a, b: a | b,
    "^=": lambda a, b: a ^ b,
}
# numpy's ``x += y`` works in place (views of x see it); keep that meaning.
_NP_INPLACE = {
    "+=": np.add, "-=": np.subtract, "*=": np.multiply, "/=": np.true_divide,
    "//=": np.floor_divide, "%=": np.remainder, "**=": np.power,
    "|=": np.bitwise_or, "&=": np.bitwise_and, "^=": np.bitwise_xor,
}


def guarded_inplacevar(op, x, y):
    """``_inplacevar_`` hook for ``name op= value``."""
    if op not in _BINARY:
        raise SandboxViolation(f"operator {op} is not allowed")
    if isinstance(x, np.ndarray) and op in _NP_INPLACE:
        return _NP_INPLACE[op](x, y, out=x, casting="same_kind")
    if isinstance(x, list) and op == "+=":
        x.extend(y)
        return x
    return _BINARY[op](x, y)


class PrintSink:
    """Collects everything a program prints, capped at ``limit`` characters."""

    def __init__(self, limit):
        self.limit = limit
        self.parts = []
        self.size = 0
        self.truncated = False

    def write(self, text):
        if self.size >= self.limit:
            self.truncated = True
            return
        text = text[: self.limit - self.size]
        self.parts.append(text)
        self.size += len(text)

    def text(self):
        out = "".join(self.parts)
        return out + ("\n[output truncated]" if self.truncated else "")


def make_print(sink):
    """Return the ``_print_`` factory RestrictedPython expects."""

    class _Printer:
        def __init__(self, _getattr=None):
            pass

        def _call_print(self, *objects, sep=" ", end="\n", **_ignored):
            sink.write(str(sep).join(str(o) for o in objects) + str(end))

        def __call__(self):
            return ""

    return _Printer


def _safe_type(obj):
    """One-argument ``type``; the class-creating form is refused."""
    return type(obj)


def make_globals(allowed_imports, sink):
    """Build the globals dict a restricted program runs in.

    Parameters
    ----------
    allowed_imports : frozenset of str
        Importable modules.
    sink : PrintSink
        Receives ``print`` output.

    Returns
    -------
    dict
        Globals with ``__builtins__`` and every RestrictedPython hook.
    """
    guarded_getattr = make_getattr(allowed_imports)

    def guarded_hasattr(obj, name):
        try:
            guarded_getattr(obj, name)
        except (AttributeError, TypeError):
            return False
        return True

    def guarded_iter(ob, *sentinel):
        return iter(ob, *sentinel)

    safe = dict(safe_builtins)
    for name in ("setattr", "delattr", "_getattr_", "__build_class__", "id"):
        safe.pop(name, None)
    safe.update({
        name: getattr(builtins, name)
        for name in ("enumerate", "zip", "sorted", "reversed", "list", "dict", "tuple", "set",
                     "frozenset", "min", "max", "sum", "any", "all", "map", "filter", "next",
                     "bytes")
    })
    safe["iter"] = guarded_iter
    safe["hasattr"] = guarded_hasattr
    safe["type"] = _safe_type
    safe["__import__"] = make_import(allowed_imports, guarded_getattr)
    return {
        "__builtins__": safe,
        "__name__": "synthesis_program",
        "_getattr_": guarded_getattr,
        "_getitem_": guarded_getitem,
        "_getiter_": guarded_getiter,
        "_iter_unpack_sequence_": guarded_iter_unpack_sequence,
        "_unpack_sequence_": guarded_unpack_sequence,
        "_write_": guarded_write,
        "_inplacevar_": guarded_inplacevar,
        "_print_": make_print(sink),
        "_apply_": lambda f, *a, **kw: f(*a, **kw),
    }
