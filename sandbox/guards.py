"""Runtime guards for restricted execution (sandbox layer 2).

RestrictedPython compiles attribute reads, item access, iteration, writes,
printing, imports, ``**kwargs`` calls and (with :mod:`sandbox.rewrite`)
computed dict keys into calls of hooks (``_getattr_``, ``_write_`` ...) that
the globals must provide.  This module builds those globals.

The policy is an allow-list by function: on a module a program reads only
the names listed for it in ``rules.MODULE_ATTRIBUTES``; on other objects the
raw-memory, file and introspection names are refused, and every value handed
out is checked again (modules, metaclasses, dangerous builtins, functions
from outside the reviewed packages or from test modules).  Every value that
reaches the program from library code -- attribute values, call results,
items, iteration, unpacking, the arguments of any program function, method,
class or lambda called from outside the program, values sent into its
generators -- must be of an allowed type (:class:`ValueCheck`): native code
trusts the index arrays of a sparse matrix or a tree, and an object array or
``datetime64("now")`` is a pointer or a clock.  No object address reaches a
program: text made by ``str``, ``repr``, f-strings, ``%`` and ``str.format``
has them removed, library text holding one is refused, and sets of objects
hashed by address are not iterated.  A refusal is an attempt: it is recorded
(first one wins) through the ``on_refusal`` callback, which the worker turns
into a ``violation`` verdict the program cannot catch.
"""
import builtins
import functools
import importlib
import itertools
import random
import re
import string
import sys
import types

import numpy as np
from RestrictedPython import safe_builtins
from RestrictedPython.Guards import guarded_iter_unpack_sequence, guarded_unpack_sequence

from das.sandbox import rules
from das.sandbox.audit import PROGRAM_FILENAME, Finding

#: Builtin objects never handed to a program, however reached.
_DANGEROUS_OBJECTS = frozenset(
    id(getattr(builtins, name))
    for name in ("eval", "exec", "compile", "open", "__import__", "getattr", "setattr",
                 "delattr", "globals", "locals", "vars", "dir", "breakpoint", "input",
                 "memoryview", "help", "exit", "quit", "__build_class__", "super", "id")
    if hasattr(builtins, name)
)
#: Module name parts that mark test code (pytest, mock, fixtures ...).
_TEST_PARTS = frozenset({"tests", "testing", "_pytest", "pytest", "unittest", "conftest"})
#: Types ``hash()`` may be applied to: their hash is computed from the value,
#: not from the object's address.
_HASHABLE_VALUES = (str, bytes, int, float, complex, bool, type(None), np.generic)
_DICT_VIEWS = (type({}.keys()), type({}.values()), type({}.items()))


def _hashed_by_address(item):
    """Whether ``hash(item)`` comes from its address: objects and functions, and NaN (Python 3.10+)."""
    if isinstance(item, (float, complex, np.inexact)):
        return item != item
    return not isinstance(item, _HASHABLE_VALUES)


def address_hashed_item(items):
    """The first item of the set ``items`` (inside tuples and frozensets too) hashed by address, or None."""
    stack = list(items)
    while stack:
        item = stack.pop()
        if isinstance(item, (tuple, frozenset)):
            stack.extend(item)
        elif _hashed_by_address(item):
            return item
    return None


def sets_shown(value, limit=None):
    """Every set whose items the text of ``value`` shows (in containers, dict views, slices,
    exceptions); OverflowError past ``limit`` items (:data:`_MAX_CHECKED`)."""
    limit = _MAX_CHECKED if limit is None else limit
    stack, seen = [value], 0
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind in (set, frozenset):
            yield item
            parts = item
        elif kind is dict:
            parts = [*item.keys(), *item.values()]
        elif kind in (list, tuple) or kind in _DICT_VIEWS:
            parts = item
        elif kind is slice:
            parts = (item.start, item.stop, item.step)
        elif isinstance(item, BaseException):  # its text: args, and an OSError's file names
            parts = item.args + ((item.filename, item.filename2) if isinstance(item, OSError) else ())
        else:
            continue
        if kind not in (set, frozenset):
            stack.extend(parts)
        seen += len(parts)
        if seen > limit:
            raise OverflowError(f"more than {limit} items")


def _hash_kind(item):
    return "a NaN" if isinstance(item, (float, complex, np.inexact)) else f"a {type(item).__name__} object"
#: How CPython, numpy and most libraries print an object's address.
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")
#: Methods reading or writing a random generator's raw state (numpy's
#: ``set_state`` trusts the position it is given and reads past the key).
_RNG_STATE_NAMES = frozenset({"get_state", "set_state", "state", "getstate", "setstate"})
_RNG_TYPES = (np.random.RandomState, np.random.Generator, np.random.BitGenerator, random.Random)


def without_addresses(text):
    """``text`` with the object addresses of default reprs removed (``<f at 0x..>`` -> ``<f>``)."""
    return _ADDRESS.sub("", text) if " at 0x" in text else text


class SandboxViolation(AttributeError):
    """A program tried to reach something the policy refuses."""

    def __init__(self, rule, message):
        super().__init__(message)
        self.rule = rule


def _program_line():
    """Line of the innermost program frame on the stack (0 when none)."""
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_filename == PROGRAM_FILENAME:
            return frame.f_lineno
        frame = frame.f_back
    return 0


def make_refuse(on_refusal=None):
    """Return ``refuse(rule, message)``: report the attempt, then raise.

    ``on_refusal(finding)`` is called first (the worker ends the run there);
    without one the refusal is only raised, which is what unit tests see.
    """

    def refuse(rule, message):
        if on_refusal is not None:
            # a program recursing to the limit must not make the report fail
            sys.setrecursionlimit(sys.getrecursionlimit() + 100)
            on_refusal(Finding(_program_line(), rule, message))
        raise SandboxViolation(rule, message)

    return refuse


def _module_of(value):
    """``value.__module__`` when it is a string, else None (never raises)."""
    try:
        module = getattr(value, "__module__", None)
    except Exception:  # odd descriptors: treat as unknown
        return None
    return module if isinstance(module, str) else None


def is_test_module(name):
    """Whether a dotted module name belongs to test code."""
    return any(part in _TEST_PARTS or part.startswith("test_") for part in name.split("."))


@functools.lru_cache(maxsize=1024)
def _trusted_module(name):
    """Whether functions of module ``name`` may be handed to a program (cached: hot path)."""
    return name.split(".")[0] in rules.TRUSTED_PACKAGES and not is_test_module(name)


def _as_is(obj, name, value):
    return value


def make_getattr(allowed_imports, refuse=None, substitute=_as_is, values=None):
    """Return the guarded ``_getattr_`` for an allow-list of modules.

    ``substitute(obj, name, value)`` returns what is handed out instead of
    ``value`` (see :func:`make_substitute`).  ``values`` (a :class:`ValueCheck`)
    checks the object read from and what is handed out; a library object's
    arrays are handed out read-only.
    """
    refuse = refuse or make_refuse()

    def guarded_getattr(obj, name, *default):
        if type(name) is not str:
            raise TypeError("attribute name must be str")
        if type(obj) is CheckedCallable:
            obj = obj._func
        elif type(obj) is types.FunctionType and getattr(obj, "_sandbox_class", None) in (str, bytes):
            obj = obj._sandbox_class  # ``str.join``: the class behind the checked builtin
        if name[:1] == "_" or name in _REFUSED_NAMES:
            _refuse_name(name, refuse)
        if name in _RNG_STATE_NAMES and (isinstance(obj, _RNG_TYPES)
                                         or isinstance(obj, type) and issubclass(obj, _RNG_TYPES)):
            refuse("numpy-denied", f'"{name}" reads or writes a random generator\'s raw state')
        public = getattr(type(obj), "_sandbox_public", None)
        if values is not None and public is None:
            values.check_holder(obj, name)
        if isinstance(obj, types.ModuleType):
            allowed = rules.readable_names(obj.__name__, allowed_imports)
            if allowed is None or name not in allowed:
                refuse("module-attribute", f'"{obj.__name__}.{name}" is not on the allow-list')
        elif name in _OBJECT_NAMES or public is not None:
            _check_object_name(obj, name, public, refuse)
        elif name in ("format", "format_map") and (
                isinstance(obj, str) or isinstance(obj, type) and issubclass(obj, str)):
            return _checked_format(obj, name, refuse, values)
        elif name == "join" and (isinstance(obj, bytes) or isinstance(obj, type) and issubclass(obj, bytes)):
            return _checked_bytes_join(obj, refuse)
        try:
            value = getattr(obj, name)
        except AttributeError:
            if default:
                return default[0]
            raise
        if public is None and type(value) not in _INERT_TYPES:  # the proxy's own methods are vetted
            _check_value(value, name, allowed_imports, refuse)
        value = substitute(obj, name, value)
        if values is None or isinstance(value, types.ModuleType):
            return value
        if public is not None:  # the model proxy's methods: their results are checked
            return values.hand_out(value, 'attribute "{}"', name, vetted=True)
        if type(obj) is not np.ndarray:
            value = _read_only(value)
        if type(obj) is types.ModuleType:
            return values.module_value(value, name)
        return values.hand_out(value, 'attribute "{}"', name, vetted=True)

    return guarded_getattr


#: Attribute names refused on every object, with their rule and reason.
_REFUSED_NAMES = {
    **{name: ("forbidden-attribute", "gives access to interpreter internals")
       for name in rules.INSPECT_ATTRIBUTES},
    **{name: ("numpy-denied", "is a denied file/native/raw-memory entry point") for name in rules.NUMPY_DENIED},
}
#: Names refused only on some non-module objects (see ``_check_object_name``).
_OBJECT_NAMES = rules.OBJECT_DENIED | rules.ATTRIBUTE_DICT_DENIED
#: Value types that are neither callable nor modules: nothing to check (hot path).
_INERT_TYPES = frozenset({int, float, bool, str, bytes, tuple, type(None), np.ndarray, np.dtype,
                          np.float64, np.int64, np.bool_})


def _read_only(value):
    """A library object's own arrays (index arrays its C code trusts included),
    alone or in a list or tuple, as read-only views."""
    if type(value) is np.ndarray:
        if value.flags.writeable:
            value = value.view()
            value.flags.writeable = False
        return value
    if type(value) in (list, tuple) and any(type(item) is np.ndarray for item in value):
        return type(value)(_read_only(item) for item in value)
    return value


def _refuse_name(name, refuse):
    """Refuse a name on any object: dunders, ``_`` names and the deny-lists."""
    if rules.is_dunder(name):
        refuse("dunder-access", f'attribute "{name}" is a dunder name')
    if name.startswith("_"):
        refuse("private-name", f'attribute "{name}" starts with "_"')
    rule, why = _REFUSED_NAMES[name]
    refuse(rule, f'attribute "{name}" {why}')


def _check_object_name(obj, name, public, refuse):
    """Refuse a name on a non-module object before it is read."""
    if name in rules.OBJECT_DENIED:
        refuse("numpy-denied", f'method "{name}" can free memory a view still reads')
    if public is not None and name not in public:
        refuse("proxy-introspection", f'"{name}" is not part of the model proxy')
    if isinstance(obj, dict) and type(obj) is not dict and name in rules.ATTRIBUTE_DICT_DENIED:
        refuse("dunder-key", f'"{name}" on {type(obj).__name__} could add keys it serves as attributes')


def _check_value(value, name, allowed_imports, refuse):
    """Refuse modules, metaclasses, builtins and functions that lead out of the policy."""
    if isinstance(value, types.ModuleType):
        if not rules.module_allowed(value.__name__, allowed_imports):
            refuse("module-not-allowed", f'module "{value.__name__}" (attribute "{name}") is not allowed')
        return
    _check_callable(value, f'attribute "{name}"', refuse)


def _check_callable(value, what, refuse):
    """Refuse dangerous builtins, metaclasses and callables from outside the reviewed packages."""
    if id(value) in _DANGEROUS_OBJECTS:
        refuse("forbidden-name", f'{what} is a forbidden builtin')
    if isinstance(value, type) and issubclass(value, type):
        refuse("forbidden-call", f'{what} is a metaclass (it creates classes)')
    if callable(value):
        module = _module_of(value)
        if module and not _trusted_module(module):
            refuse("module-not-allowed", f'{what} comes from module "{module}", outside the reviewed packages')


#: dtype kinds a program may hold: booleans, numbers, strings.  Refused:
#: objects (pointers), datetimes and timedeltas (``"now"`` reads the clock),
#: structured and void records.
_VALUE_KINDS = frozenset("biufcUS")
#: Of those, the kinds passed on unscanned (hot path): text may hold an address.
_NUMERIC_KINDS = frozenset("biufc")


def _holds_address(value):
    """Whether a string array or numpy string scalar holds an object address
    (numpy's ``str()`` of an object put it there)."""
    if isinstance(value, (np.str_, np.bytes_)):
        return (" at 0x" if isinstance(value, str) else b" at 0x") in value
    if value.size == 0:
        return False
    return bool((np.char.find(value, " at 0x" if value.dtype.kind == "U" else b" at 0x") >= 0).any())


def _not_plain(value):
    """The first item of ``value`` (itself included, lists and tuples walked)
    that numpy would turn into text through ``str()``: anything but numbers,
    text, ``None`` and arrays of allowed kind.  None when there is none."""
    stack = [value]
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind in (list, tuple):
            stack.extend(item)
        elif not (kind in _PLAIN_TYPES or kind is np.str_ or kind is np.bytes_
                  or isinstance(item, (type, TypeQuery, ArrayType))  # a dtype: a class's text has no address
                  or isinstance(item, (np.ndarray, np.generic)) and item.dtype.kind in _VALUE_KINDS
                  or kind is types.FunctionType and getattr(item, "_sandbox_class", None) in (str, bytes)):
            return item
    return None


def _text_kind(dtype):
    """Whether ``dtype`` names a string kind (``str``, ``"U20"``, ``bytes``)."""
    try:
        return np.dtype(_unwrap_class(dtype)).kind in "US"
    except Exception:
        return False
#: Values with nothing inside to check.
_PLAIN_TYPES = frozenset({int, float, complex, bool, str, bytes, type(None), slice, range,
                          type(Ellipsis), np.dtype, np.flatiter, type(np.ones(1).flags),
                          np.float64, np.float32, np.int64, np.int32, np.bool_, np.complex128})
_CONTAINERS = (list, tuple, set, frozenset, dict, type({}.keys()), type({}.values()), type({}.items()))
#: Iterated as they are: containers and arrays whose items were checked.
_CHECKED_ITERABLES = frozenset({list, tuple, set, frozenset, dict, range, str, np.ndarray,
                                type({}.keys()), type({}.values()), type({}.items())})
#: Iterators a program may hand its own functions: whatever consumes them
#: (``for``, ``next``, the checked builtins) checks the items they yield.
#: Not ``map``/``filter``: ``x in m`` would call their function from C.
_ITERATOR_TYPES = frozenset({zip, enumerate, reversed, type(iter([])), type(iter(())),
                             type(iter(range(0))), type(iter("")), type(reversed([]))})
#: Builtin classes a program holds as names (``str.format``, ``int``, ``list`` ...).
_BUILTIN_CLASSES = frozenset(value for value in (*safe_builtins.values(), list, tuple, set, frozenset, object, bytes)
                             if isinstance(value, type))
#: Items checked in one container before it is refused as too large.
_MAX_CHECKED = 1 << 22


def _reviewed_classes():
    """Classes named on the allowed modules (loaded ones) and the types of
    their other listed values (``np.r_``, ``scipy.stats.norm``, ufuncs)."""
    found = set()
    for module_name, names in rules.MODULE_ATTRIBUTES.items():
        module = sys.modules.get(module_name)
        for name in names if module is not None else ():
            value = getattr(module, name, None)
            if isinstance(value, type):
                found.add(value)
            elif not isinstance(value, (types.ModuleType, types.FunctionType, types.BuiltinFunctionType)):
                found.add(type(value))
    return found


class CheckedCallable:
    """A library function or method as a program holds it: its results are checked."""

    __slots__ = ("_func", "_values", "_name")

    def __init__(self, func, values, name):
        self._func, self._values, self._name = func, values, name

    def __call__(self, *args, **kwargs):
        dtype = kwargs.get("dtype")
        if dtype is None and args and getattr(self._func, "__name__", None) in _DTYPE_METHODS:
            dtype = args[0]
        if dtype is not None:
            self._values.check_dtype(dtype, self._name)
        target = getattr(self._func, "__self__", None)
        if dtype is not None and _text_kind(dtype) or any(
                isinstance(value, np.ndarray) and value.dtype.kind in "US" for value in (target, *args)):
            _refuse_objects_as_text([*args, *kwargs.values()], self._name, self._values.refuse)
        for value in (target, *args, *kwargs.values()):
            if type(value) in (set, frozenset):  # ``list.extend(s)``, ``s.pop()`` follow its order
                self._values.check_set_order(value)
            elif type(value) is types.FunctionType and getattr(value, "_sandbox_class", None) in (str, bytes):
                args, kwargs = _classes_for_standins(args, kwargs)  # ``astype(str)``: the class itself
                break
        result = self._func(*args, **kwargs)
        if "where" in kwargs and kwargs.get("out") is None and _is_ufunc_call(self._func):
            result = _zero_skipped(result, kwargs["where"])
        return self._values.hand_out(result, 'the result of "{}"', self._name)

    def __repr__(self):
        return repr(self._func)


def _refuse_objects_as_text(values, name, refuse):
    """A call making or filling a string array: numpy would ``str()`` an object
    among ``values`` (its address); only plain values may go in."""
    found = _not_plain(values)
    if found is not None:
        refuse("value-not-allowed", f'"{name}" would turn a {type(found).__name__} object into text '
                                    f'(its address): string arrays take numbers and text only')


def _classes_for_standins(args, kwargs):
    """``args``/``kwargs`` with the checked ``str``/``bytes`` builtins replaced by their classes."""
    def real(value):
        cls = getattr(value, "_sandbox_class", None) if type(value) is types.FunctionType else None
        return cls if cls in (str, bytes) else value
    return [real(arg) for arg in args], {key: real(value) for key, value in kwargs.items()}


#: Methods whose first argument is a dtype (checked before the call).
_DTYPE_METHODS = frozenset({"astype", "view"})


class ValueCheck:
    """The type allow-list on every value that reaches a program from library code.

    Allowed: plain numbers, strings, ``None``, slices; arrays and numpy
    scalars of :data:`_VALUE_KINDS`; lists, tuples, sets and dicts of allowed
    values (checked whole); the classes listed on the allowed modules and
    their instances; numpy scalar types of allowed kinds; exceptions;
    whatever the program made itself or was given (``given``: its builtins).
    Anything else (sparse matrices, tree internals, memoryviews, capsules, bit
    generators ...) is refused through ``refuse``, and so is library text
    holding an object address.  Callables are handed out as
    :class:`CheckedCallable`.
    """

    def __init__(self, refuse):
        self.refuse = refuse
        self.given = set()  # ids of the values the program's builtins hold
        self.classes = _reviewed_classes()
        self.known = {}  # (type, is a class) -> allowed
        self.functions = {}  # id of a module's function -> (function, its CheckedCallable)

    def module_value(self, value, name):
        """:meth:`hand_out` for a module attribute; functions wrapped once (hot path)."""
        held = self.functions.get(id(value))
        if held is not None and held[0] is value:
            return held[1]
        out = self.hand_out(value, 'attribute "{}"', name, vetted=True)
        if type(out) is CheckedCallable:
            self.functions[id(value)] = (value, out)
        return out

    def hand_out(self, value, what, name="", vetted=False):
        """``value`` checked; a library callable wrapped so its results are checked too.

        ``what`` describes the value in a refusal, ``{}`` standing for ``name``.
        A callable is refused as an attribute read would refuse it (forbidden
        builtins, modules outside the reviewed packages) unless ``vetted``:
        the attribute read checked it already, or it is the guard's own.
        """
        kind = type(value)
        if kind in _PLAIN_TYPES or kind is np.ndarray and value.dtype.kind in _NUMERIC_KINDS:
            return without_addresses(value) if kind is str else value
        if callable(value) and not isinstance(value, type) and not self._program_made(value) \
                and kind not in (CheckedCallable, ArrayType, TypeQuery) and id(value) not in self.given:
            if not vetted:
                _check_callable(value, what.format(name), self.refuse)
            return CheckedCallable(value, self, name)
        self.check(value, what.format(name))
        return value

    def check(self, value, what):
        """Refuse ``value`` unless it (and everything in it) is allowed."""
        stack, seen = [value], 0
        while stack:
            item = stack.pop()
            kind = type(item)
            if kind is str and " at 0x" in item and _ADDRESS.search(item):
                self.refuse("value-not-allowed", f"{what} holds text with an object address")
            if kind in _PLAIN_TYPES or id(item) in self.given \
                    or kind is types.GeneratorType and item.gi_code is _ITEMS_CODE:  # the guard's checking iterator
                continue
            seen += 1
            if seen > _MAX_CHECKED:
                self.refuse("value-not-allowed", f"{what} holds too many items to check")
            if kind is np.ndarray or isinstance(item, (np.generic, np.dtype)):
                dtype = item if isinstance(item, np.dtype) else item.dtype
                if dtype.kind not in _VALUE_KINDS:
                    self.refuse("value-not-allowed",
                                f'{what} has dtype "{dtype}" (objects, dates and records are refused)')
                if dtype.kind in "US" and not isinstance(item, np.dtype) and _holds_address(item):
                    self.refuse("value-not-allowed", f"{what} holds text with an object address")
            elif isinstance(item, dict):
                if kind is not dict:
                    self._check_type(kind, what)
                stack.extend(item.keys())
                stack.extend(item.values())
            elif isinstance(item, _CONTAINERS):
                if kind not in _CONTAINERS:
                    self._check_type(kind, what)  # named tuples of scipy.stats
                stack.extend(item)
            elif not self._program_made(item):
                self._check_type(item if isinstance(item, type) else kind, what,
                                 is_class=isinstance(item, type))

    def enter(self, args, always=False):
        """``_enter_(args)``, the first statement of every program function,
        method and lambda: its arguments are checked unless program code
        called it (whatever callable, class or builtin the caller went through).

        A generator's body first runs when someone resumes it, not when it is
        called (``yield from`` in a program frame resumes one library code
        made): its arguments are checked ``always``."""
        try:
            caller = sys._getframe(2)  # 0: here, 1: the program function, 2: its caller
        except ValueError:
            caller = None
        if always or caller is None or caller.f_code.co_filename != PROGRAM_FILENAME:
            name = sys._getframe(1).f_code.co_name
            self.check(args, f'an argument library code passed to "{name}"')

    def delegated(self, ob):
        """``yield from _delegate_(ob)``: a generator of the program's own is delegated to as it is
        (``send`` and ``throw`` reach it, and its own code is checked); anything else is iterated as
        ``for`` iterates it (:meth:`checked_iter`: a set's order is checked, items are handed out)."""
        if isinstance(ob, types.GeneratorType) and ob.gi_code.co_filename == PROGRAM_FILENAME:
            return ob
        return self.checked_iter(ob)

    def sent(self, value):
        """``_sent_(yield ...)``: a value sent into a program generator, checked."""
        if type(value) not in _PLAIN_TYPES:
            self.check(value, "a value sent into a program generator")
        return value

    def check_holder(self, obj, name):
        """Refuse reading ``name`` from an object of a refused type (one
        that reached the program through a builtin such as ``list(forest)``)."""
        kind = type(obj)
        if kind in _PLAIN_TYPES or kind in _CHECKED_ITERABLES or kind is types.ModuleType:
            return
        if kind is np.ndarray or isinstance(obj, (np.generic, np.dtype)):
            self.check(obj, f'the object "{name}" is read from')
        elif not self._program_made(obj):
            self._check_type(obj if isinstance(obj, type) else kind, f'the object "{name}" is read from',
                             is_class=isinstance(obj, type))

    def check_dtype(self, dtype, name):
        """Refuse a requested dtype of a refused kind (``astype("M8[s]")``)."""
        try:
            kind = np.dtype(dtype).kind
        except Exception:  # not a dtype: the call raises (or ignores it) itself
            return
        if kind not in _VALUE_KINDS:
            self.refuse("value-not-allowed",
                        f'"{name}" with dtype "{dtype}" (objects, dates and records are refused)')

    def checked_iter(self, iterable):
        """Iterate ``iterable``; every item is checked one by one.

        Only strings, ranges, arrays of allowed kinds and the guard's own
        checking generators are iterated as they are: a list or tuple is no
        proof that its items were checked (C code such as ``list.extend``
        fills it without the guard), nor is a program generator (``yield
        from`` delegates to library iterators in C).
        """
        kind = type(iterable)
        if kind in _PLAIN_TYPES:
            return iter(iterable)
        if kind in (set, frozenset):
            self.check_set_order(iterable)
        if kind is np.ndarray:
            if iterable.dtype.kind not in _NUMERIC_KINDS:
                self.check(iterable, "an iterated array")
            return iter(iterable)
        if kind is tuple and len(iterable) == 2 and type(iterable[0]) in _PLAIN_TYPES \
                and type(iterable[1]) in _PLAIN_TYPES:  # unpacking a pair: the hot path
            return iter(iterable)
        if kind is tuple and len(iterable) <= 8:
            for item in iterable:
                t = type(item)
                if not (t in _PLAIN_TYPES or t is np.ndarray and item.dtype.kind in _NUMERIC_KINDS):
                    break
            else:
                return iter(iterable)
        it = iter(iterable)
        if type(it) is types.GeneratorType and it.gi_code is _ITEMS_CODE:
            return it
        return self._items(it)

    def safe_items(self, iterable):
        """What a C builtin (``list``, ``zip``, ``sorted`` ...) may iterate:
        ``iterable`` itself when every item is a plain value or an array of an
        allowed kind, else an iterator that checks each item it yields."""
        kind = type(iterable)
        if kind in _PLAIN_TYPES or kind is np.ndarray and iterable.dtype.kind in _NUMERIC_KINDS:
            return iterable
        if kind in (set, frozenset):
            self.check_set_order(iterable)
        if kind in _SCANNED:
            if len(iterable) <= _MAX_SCANNED:
                for item in iterable:
                    t = type(item)
                    if not (t in _PLAIN_TYPES or t is np.ndarray and item.dtype.kind in _NUMERIC_KINDS):
                        break
                else:
                    return iterable
        return self.checked_iter(iterable)

    def operated(self, value):
        """``_operated_(a op b)``: what an operator (or a numeric builtin) made,
        checked like a call result.  Lists and tuples only regroup values the
        program held; numpy makes new ones (``np.ones(2) + [2**100, 1]`` is an
        object array)."""
        kind = type(value)
        if kind in _PLAIN_TYPES or kind in (list, tuple) or kind is np.ndarray and value.dtype.kind in _NUMERIC_KINDS:
            return value
        return self.hand_out(value, "the result of an operator")

    def shown(self, value):
        """``value`` about to be shown as text (``print``, ``str``, ``repr``,
        formatting): refused when a set inside it is ordered by addresses."""
        if type(value) in _PLAIN_TYPES and type(value) is not slice:  # a slice shows its parts
            return value
        try:
            for items in sets_shown(value):
                self.check_set_order(items)
        except OverflowError:
            self.refuse("value-not-allowed", "text of a value with too many items to check")
        return value

    def check_set_order(self, items):
        """Refuse iterating a set whose order follows addresses (functions, objects, NaN)."""
        item = address_hashed_item(items)
        if item is not None:
            self.refuse("value-not-allowed", f"iterating a set that holds {_hash_kind(item)}: "
                                             "its order follows their addresses")

    def _items(self, it):
        hand_out = self.hand_out
        for item in it:
            t = type(item)
            if t in _PLAIN_TYPES or t is np.ndarray and item.dtype.kind in _NUMERIC_KINDS:
                yield item
            elif t is tuple and len(item) == 2 and type(item[0]) in _PLAIN_TYPES and type(item[1]) in _PLAIN_TYPES:
                yield item  # pairs of zip / enumerate / dict.items()
            else:
                yield hand_out(item, "an item of an iteration")

    def _check_type(self, cls, what, is_class=False):
        allowed = self.known.get((cls, is_class))
        if allowed is None:
            allowed = self.known[(cls, is_class)] = self._allowed_type(cls, is_class)
        if not allowed:
            kind = "class" if is_class else "object"
            self.refuse("value-not-allowed", f'{what} is a {cls.__module__}.{cls.__qualname__} {kind}, '
                                             f'not on the allow-list')

    def _allowed_type(self, cls, is_class):
        if issubclass(cls, np.generic):
            return np.dtype(cls).kind in _VALUE_KINDS
        if isinstance(cls, ProgramClass) or issubclass(cls, BaseException) \
                or cls in (ArrayType, TypeQuery, CheckedCallable, types.ModuleType) \
                or getattr(cls, "_sandbox_public", None) is not None:  # the guard's own, the model proxy
            return True
        if cls in self.classes or cls in _BUILTIN_CLASSES or not is_class and cls in _ITERATOR_TYPES:
            return True
        module, name = getattr(cls, "__module__", ""), cls.__qualname__
        return not is_class and f"{module}.{name}" in rules.RESULT_CLASSES or (
            not is_class and module.startswith(("numpy.", "scipy.stats.", "scipy.optimize."))
            and name.endswith(("Result", "_frozen")))

    @staticmethod
    def _program_made(value):
        """Functions, methods, generators and objects of the program itself."""
        if isinstance(type(value), ProgramClass):
            return True
        if isinstance(value, types.MethodType):
            value = value.__func__
        code = getattr(value, "__code__", None) if isinstance(value, types.FunctionType) else \
            getattr(value, "gi_code", None) if isinstance(value, types.GeneratorType) else None
        return code is not None and code.co_filename == PROGRAM_FILENAME


_ITEMS_CODE = ValueCheck._items.__code__
#: Containers whose items ``safe_items`` scans in place (small ones only).
_SCANNED = frozenset({list, tuple, set, frozenset, dict, type({}.keys()), type({}.values())})
_MAX_SCANNED = 1 << 16
#: Builtins that iterate their arguments in C (``key=`` callbacks see checked items).
_ITERATING_BUILTINS = ("enumerate", "zip", "sorted", "list", "tuple", "set", "frozenset", "min",
                       "max", "sum", "any", "all", "map", "filter")


def make_checked_builtins(values, refuse):
    """The iterating builtins a program holds: arguments that are not
    already checked values are iterated through :meth:`ValueCheck.safe_items`."""
    safe_items = values.safe_items
    made = {}

    def wrap(name):
        func = getattr(builtins, name)
        first_only = name in ("enumerate", "sorted", "list", "tuple", "set", "frozenset", "sum",
                              "any", "all", "min", "max", "filter")

        def checked(*args, **kwargs):
            if name == "filter" and len(args) == 2:
                args = (args[0], safe_items(args[1]))
            elif name == "map":
                args = args[:1] + tuple(safe_items(arg) for arg in args[1:])
            elif name in ("min", "max") and len(args) > 1:
                args = tuple(values.hand_out(arg, "an argument of {}", name) for arg in args)
            elif first_only and args:
                args = (safe_items(args[0]),) + args[1:]
            elif not first_only:  # zip
                args = tuple(safe_items(arg) for arg in args)
            made = func(*args, **kwargs)
            return values.operated(made) if name == "sum" else made

        checked.__name__ = checked.__qualname__ = name
        checked._sandbox_class = func if isinstance(func, type) else None
        if checked._sandbox_class is None:
            del checked._sandbox_class
        return checked

    for name in _ITERATING_BUILTINS:
        made[name] = wrap(name)

    def checked_reversed(seq):
        kind = type(seq)
        if kind in _PLAIN_TYPES or kind is np.ndarray and seq.dtype.kind in _NUMERIC_KINDS:
            return reversed(seq)
        checked = safe_items(seq)
        if checked is not seq:
            checked = list(checked)
        return reversed(checked)

    def checked_next(it, *default):
        item = next(it, *default)
        t = type(item)
        if t in _PLAIN_TYPES or t is np.ndarray and item.dtype.kind in _NUMERIC_KINDS:
            return item
        if type(it) is types.GeneratorType and it.gi_code is _ITEMS_CODE:
            return item
        return values.hand_out(item, "the result of next()")

    def checked_bytes(*args, **kwargs):
        if args:
            source = args[0]
            if isinstance(source, (np.ndarray, np.generic)):
                if source.dtype.kind not in "biufc":
                    refuse("value-not-allowed",
                           f'bytes() of an array of dtype "{source.dtype}" (only numeric arrays)')
            elif type(source) not in (int, str, bytes, bytearray, bool):
                args = (list(safe_items(source)),) + args[1:]  # never through a buffer
        return bytes(*args, **kwargs)

    checked_bytes._sandbox_class = bytes

    def checked_str(*args, **kwargs):
        if args:
            values.shown(args[0])
        made = str(*args, **kwargs)
        return without_addresses(made) if len(args) == 1 and not kwargs else made

    def checked_repr(obj):
        return without_addresses(repr(values.shown(obj)))

    def arithmetic(name):
        func = getattr(builtins, name)

        def checked(*args, **kwargs):  # ``pow(np.ones(2), [2**100])``: like an operator
            return values.operated(func(*args, **kwargs))
        checked.__name__ = checked.__qualname__ = name
        return checked

    made.update({name: arithmetic(name) for name in ("abs", "pow", "divmod", "round")})
    checked_str._sandbox_class = str
    made.update({"reversed": checked_reversed, "next": checked_next, "bytes": checked_bytes,
                 "str": checked_str, "repr": checked_repr})
    return made


def _plain_bytes_operand(value):
    """What ``bytes % value`` and ``bytes.join`` take: bytes, numbers (no buffers, no objects)."""
    return type(value) in (bytes, int, float, bool) or isinstance(value, (np.bytes_, np.integer, np.floating))


def _checked_bytes_join(obj, refuse):
    """``bytes.join`` (bound or unbound) that takes ``bytes`` items only (an
    object array's buffer would be its pointers)."""
    def join(*args):
        *separator, items = args  # unbound: (separator, items); bound: (items,)
        items = list(items)
        if not all(type(item) is bytes or isinstance(item, np.bytes_) for item in items):
            refuse("value-not-allowed", "bytes.join takes bytes items only")
        return bytes.join(separator[0] if separator else obj, items)
    return join


def make_mod(refuse, shown=None):
    """``_mod_(a, b)``, what ``a % b`` compiles to: text formatting without
    addresses (``shown``: see :meth:`ValueCheck.shown`); bytes formatting of
    bytes and numbers only."""
    def mod(a, b):
        if isinstance(a, str):
            return without_addresses(a % (b if shown is None else shown(b)))
        if isinstance(a, bytes):
            operands = b.values() if type(b) is dict else b if type(b) is tuple else (b,)
            if not all(_plain_bytes_operand(v) for v in operands):
                refuse("value-not-allowed", "bytes formatting takes bytes and numbers only")
        return a % b
    return mod


def _format_fields(template, refuse, depth=0):
    """Refuse field names that read attributes (``{0.__class__}``), nested specs included."""
    if depth > 2:
        refuse("forbidden-attribute", "format specification nested too deeply")
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError:
        return  # str.format raises the same error itself
    for _, field, spec, _ in parsed:
        if field is not None and "." in field:
            refuse("forbidden-attribute", f'format field "{field[:40]}" reads an attribute')
        if spec:
            _format_fields(spec, refuse, depth + 1)


def _checked_format(obj, name, refuse, values=None):
    """``str.format`` / ``format_map`` (bound or unbound) with checked fields
    and arguments (``values.shown``)."""
    method = getattr(str, name)
    shown = values.shown if values is not None else (lambda value: value)
    if isinstance(obj, type):
        def unbound(template, *args, **kwargs):
            if type(template) is str:
                _format_fields(template, refuse)
            return without_addresses(method(template, *shown(args), **shown(kwargs)))
        return unbound
    _format_fields(obj, refuse)
    bound = getattr(obj, name)

    def formatted(*args, **kwargs):
        return without_addresses(bound(*shown(args), **shown(kwargs)))
    return formatted


def make_import(allowed_imports, guarded_getattr, refuse=None):
    """Return a guarded ``__import__`` honouring the allow-list."""
    refuse = refuse or make_refuse()

    def guarded_import(name, globals=None, locals=None, fromlist=(), level=0):
        if isinstance(fromlist, list):
            # C code (PyImport_Import, e.g. numpy's lazy ``numpy._core._methods``)
            # finds ``__import__`` through the running program's builtins and
            # passes a list; ``import`` statements pass a tuple or None, and a
            # program cannot call ``__import__`` itself.
            return _internal_import(name)
        if level != 0:
            refuse("import-not-allowed", "relative imports are not allowed")
        if type(name) is not str or not rules.importable(name, fromlist, allowed_imports):
            refuse("import-not-allowed", f'import of "{name}" is not allowed')
        module = _import_module(name)
        for item in fromlist or ():  # ``from scipy import stats`` loads the child first
            if rules.module_allowed(f"{name}.{item}", allowed_imports):
                _import_module(f"{name}.{item}")
        if fromlist:
            # IMPORT_FROM reads attributes directly: hand it only checked ones.
            return types.SimpleNamespace(**{item: guarded_getattr(module, item) for item in fromlist})
        return _import_module(name.split(".")[0])

    return guarded_import


def _import_module(name):
    """importlib.import_module; a BaseException from module code becomes ImportError."""
    try:
        return importlib.import_module(name)
    except Exception:
        raise
    except BaseException as exc:  # e.g. pytest's Skipped: must not end the worker
        raise ImportError(f'import of "{name}" failed: {type(exc).__name__}') from None


def _internal_import(name):
    """Import on behalf of library C code: modules already loaded, never test code."""
    module = sys.modules.get(name) if type(name) is str else None
    if module is None or is_test_module(name):
        raise ImportError(f'import of "{name}" is not allowed')
    return module


class ProgramClass(type):
    """Metaclass of a program's classes: no dunder members but ``__init__``.

    The audit refuses these already; this is the runtime backstop (a class
    body's names are the keys of the namespace it builds).  Each run gets a
    subclass that knows where to report a refusal (``_refuse``).
    """

    _ALLOWED = rules.CLASS_DUNDERS | {"__module__", "__qualname__", "__doc__"}

    def __new__(mcls, name, bases, namespace):
        bad = [key for key in namespace if not isinstance(key, str)
               or (key.startswith("_") and key not in mcls._ALLOWED)]
        if bad or any(not isinstance(base, ProgramClass) and base is not object for base in bases):
            mcls._refuse("node-not-allowed", f'class "{name}" has refused members or bases')
        return super().__new__(mcls, name, bases, namespace)


def make_metaclass(refuse):
    """A per-run :class:`ProgramClass` reporting through ``refuse``."""
    return type.__new__(ProgramClass, "ProgramClass", (ProgramClass,), {"_refuse": staticmethod(refuse)})


class TypeQuery:
    """What ``type(x)`` returns: compares and prints like the class, cannot be called."""

    __slots__ = ("_cls", "_refuse")

    def __init__(self, cls, refuse):
        object.__setattr__(self, "_cls", cls)
        object.__setattr__(self, "_refuse", refuse)

    def __call__(self, *args, **kwargs):
        self._refuse("forbidden-call",
                     f"type(x) is a query: {self._cls.__name__} cannot be called through it")

    def __mro_entries__(self, bases):
        self._refuse("forbidden-call", f"type(x) is a query: {self._cls.__name__} cannot be a base class")

    def __eq__(self, other):
        return self._cls is _unwrap_class(other)

    def __hash__(self):
        return hash(self._cls)

    def __repr__(self):
        return repr(self._cls)

    def __setattr__(self, name, value):
        self._refuse("write-not-allowed", "type queries are read-only")


def _unwrap_class(cls):
    """Undo TypeQuery / guarded ``dict`` so isinstance checks keep working."""
    if isinstance(cls, tuple):
        return tuple(_unwrap_class(c) for c in cls)
    if isinstance(cls, TypeQuery):
        return cls._cls
    return getattr(cls, "_sandbox_class", cls) if callable(cls) else cls


def _safe_isinstance(obj, cls):
    return isinstance(obj, _unwrap_class(cls))


def _safe_issubclass(sub, cls):
    return issubclass(_unwrap_class(sub), _unwrap_class(cls))


class _WriteGuard:
    """Allows item writes on containers (no dunder string keys); refuses attribute writes.

    A list's slice takes its items through ``values.safe_items`` (checked, never
    a set ordered by addresses)."""

    __slots__ = ("_ob", "_refuse", "_values")

    def __init__(self, ob, refuse, values=None):
        object.__setattr__(self, "_ob", ob)
        object.__setattr__(self, "_refuse", refuse)
        object.__setattr__(self, "_values", values)

    def __setitem__(self, key, value):
        _check_key(key, self._refuse)
        if type(key) is slice and self._values is not None and isinstance(self._ob, list):
            value = self._values.safe_items(value)
        elif isinstance(self._ob, np.ndarray) and self._ob.dtype.kind in "US":
            _refuse_objects_as_text([value], "an item write", self._refuse)
        self._ob[key] = value

    def __delitem__(self, key):
        del self._ob[key]

    def __setattr__(self, name, value):
        self._refuse("write-not-allowed", "attribute assignment is not allowed")

    def __delattr__(self, name):
        self._refuse("write-not-allowed", "attribute deletion is not allowed")


_WRITABLE = (list, dict, set, np.ndarray)


def _check_key(key, refuse):
    """Refuse a string key that names a dunder (it could become an attribute)."""
    if isinstance(key, str) and rules.is_dunder(key):
        refuse("dunder-key", f'key "{key[:40]}" is a dunder name')
    return key


def make_dict(refuse=None, values=None):
    """The program's ``dict``: refuses dunder string keys; a source that is
    not a dict is iterated through ``values.safe_items`` (items checked)."""
    refuse = refuse or make_refuse()

    def guarded_dict(*args, **kwargs):
        if values is not None and args and not isinstance(args[0], dict):
            args = (values.safe_items(args[0]),) + args[1:]
        made = dict(*args, **kwargs)
        for key in made:
            _check_key(key, refuse)
        return made

    guarded_dict._sandbox_class = dict  # for isinstance(x, dict)
    return guarded_dict


def make_write(refuse=None, values=None):
    """``_write_`` hook: items of lists, dicts and arrays; attributes of program instances."""
    refuse = refuse or make_refuse()

    def guarded_write(ob):
        if isinstance(type(ob), ProgramClass):
            return ob  # attribute names are literals the audit checked
        if isinstance(ob, _WRITABLE):
            return _WriteGuard(ob, refuse, values)
        refuse("write-not-allowed", f"writing to {type(ob).__name__} objects is not allowed")

    return guarded_write


guarded_write = make_write()


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
    "<<=": np.left_shift, ">>=": np.right_shift,
}
# So do a list's ``+=`` and ``*=`` and a set's ``|= &= -= ^=`` (with a set): aliases see the change.
_BUILTIN_INPLACE = {
    list: {"+=": list.__iadd__, "*=": list.__imul__},
    set: {"|=": set.__ior__, "&=": set.__iand__, "-=": set.__isub__, "^=": set.__ixor__},
}


def make_inplacevar(mod, values=None):
    """``_inplacevar_`` hook for ``name op= value`` (``%=`` through ``mod``, see
    :func:`make_mod`); ``list += iterable`` takes its items through
    ``values.safe_items`` (checked, never a set ordered by addresses)."""
    def inplacevar(op, x, y):
        if op == "%=" and isinstance(x, (str, bytes)):
            return mod(x, y)
        if values is None:
            return guarded_inplacevar(op, x, y)
        if op == "+=" and isinstance(x, list):
            items = values.safe_items(y)
            y = items if items is y else list(items)  # taken whole first, as Python does: ``a += a`` ends
        return values.operated(guarded_inplacevar(op, x, y))
    return inplacevar


def guarded_inplacevar(op, x, y):
    """``name op= value`` as Python runs it: in place on arrays, lists and sets, else ``x op y``."""
    if op not in _BINARY:
        raise SandboxViolation("forbidden-call", f"operator {op} is not allowed")
    if isinstance(x, np.ndarray) and op in _NP_INPLACE:
        return _NP_INPLACE[op](x, y, out=x, casting="same_kind")
    inplace = _BUILTIN_INPLACE.get(type(x), {}).get(op)
    # Python tries the operand's own operator first: numpy's answers a list (``[1.0] += np.ones(1)``
    # is an array); a set's in-place operators take sets only.
    numeric = isinstance(y, (np.ndarray, np.generic))
    if inplace is not None and (type(x) is list and not numeric or isinstance(y, (set, frozenset))):
        result = inplace(x, y)
        if result is not NotImplemented:
            return result
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


def make_print(sink, text):
    """Return the ``_print_`` factory RestrictedPython expects; ``text`` is the
    program's own ``str`` (no addresses, no sets ordered by addresses)."""

    class _Printer:
        def __init__(self, _getattr=None):
            pass

        def _call_print(self, *objects, sep=" ", end="\n", **_ignored):
            sink.write(text(sep).join(text(o) for o in objects) + text(end))

        def __call__(self):
            return ""

    return _Printer


class CheckedContext:
    """What ``with ctx as name`` enters: what ``ctx.__enter__()`` returns is checked."""

    __slots__ = ("_ctx", "_values")

    def __init__(self, ctx, values):
        self._ctx, self._values = ctx, values

    def __enter__(self):
        return self._values.hand_out(type(self._ctx).__enter__(self._ctx), "what a with statement entered")

    def __exit__(self, *exc):
        return type(self._ctx).__exit__(self._ctx, *exc)


class ArrayType:
    """What ``np.ndarray`` is to a program: ``isinstance`` and annotations work,
    construction takes a shape, dtype and order only, and the array is zero-filled.

    ``buffer=`` would lay any dtype over raw bytes: an object array over
    bytes the program wrote is a forged object pointer (and ``offset`` /
    ``strides`` go with it).
    """

    __slots__ = ("_refuse",)
    _sandbox_class = np.ndarray  # what isinstance() and type queries compare with

    def __init__(self, refuse):
        object.__setattr__(self, "_refuse", refuse)

    def __call__(self, shape, dtype=float, *args, order=None, **kwargs):
        if args or kwargs:
            self._refuse("numpy-denied", "np.ndarray(buffer=, offset=, strides=) reinterprets raw memory")
        made = np.zeros(shape, dtype, order=order or "C")  # never the allocator's stale memory
        if made.dtype.kind not in _VALUE_KINDS:
            self._refuse("value-not-allowed", f'np.ndarray of dtype "{made.dtype}" (objects, dates and '
                                              f'records are refused)')
        return made

    def __repr__(self):
        return repr(np.ndarray)


def _padded(array, pad_width, mode="constant", **kwargs):
    """``np.pad`` whose ``mode="empty"`` pads with zeros, not stale memory."""
    return np.pad(array, pad_width, "constant" if isinstance(mode, str) and mode == "empty" else mode, **kwargs)


#: ids of the numpy functions that allocate without initialising, and what a program gets instead.
_INITIALISED = {id(np.empty): np.zeros, id(np.empty_like): np.zeros_like, id(np.pad): _padded}


def _zero_skipped(result, where):
    """A ufunc result computed with ``where=`` and no ``out=``: the cells it
    skipped are zeros instead of uninitialised memory."""
    if type(result) is tuple:
        return tuple(_zero_skipped(item, where) for item in result)
    skipped = ~np.asarray(where, dtype=bool)
    if isinstance(result, np.ndarray):
        np.copyto(result, 0, where=np.broadcast_to(skipped, result.shape))
    elif isinstance(result, np.generic) and skipped.any():
        result = result.dtype.type(0)
    return result


def _is_ufunc_call(func):
    """``np.add``, ``scipy.special.expit`` (ufuncs) and a ufunc's ``outer``."""
    return isinstance(func, np.ufunc) or isinstance(getattr(func, "__self__", None), np.ufunc) \
        and getattr(func, "__name__", "") == "outer"


def make_substitute(seed, refuse):
    """What the guarded getattr hands out instead of some library objects.

    Returns the ``substitute(obj, name, value)`` hook of :func:`make_getattr`:
    ``np.ndarray`` becomes an :class:`ArrayType`; ``default_rng``,
    ``RandomState``, ``seed`` and ``Random`` called without a seed, and the
    ``seed()`` method of a generator, get one drawn from ``seed`` and a
    per-run counter (never from OS entropy); what would hand out the
    allocator's stale memory (pointers, paths) is zero-filled instead
    (:data:`_INITIALISED`).
    """
    counter = itertools.count()

    def fresh():
        return int(np.random.SeedSequence([int(seed) & 0xFFFFFFFF, next(counter)]).generate_state(1)[0])

    def default_rng(seed=None):
        return np.random.default_rng(fresh() if seed is None else seed)

    def random_state(seed=None):
        return np.random.RandomState(fresh() if seed is None else seed)

    def np_seed(seed=None):
        np.random.seed(fresh() if seed is None else seed)

    def py_seed(a=None, version=2):
        random.seed(fresh() if a is None else a, version)

    def py_random(x=None):
        return random.Random(fresh() if x is None else x)

    replacements = {id(np.random.default_rng): default_rng, id(np.random.RandomState): random_state,
                    id(np.random.seed): np_seed, id(random.seed): py_seed, id(random.Random): py_random,
                    id(np.ndarray): ArrayType(refuse), **_INITIALISED}

    def substitute(obj, name, value):
        if name == "seed" and isinstance(obj, (random.Random, np.random.RandomState)):
            def reseed(a=None, *args):
                return value(fresh() if a is None else a, *args)
            return reseed
        return replacements.get(id(value), value)

    return substitute


def make_globals(allowed_imports, sink, seed=0, on_refusal=None):
    """Build the globals dict a restricted program runs in.

    Parameters
    ----------
    allowed_imports : frozenset of str
        Importable modules.
    sink : PrintSink
        Receives ``print`` output.
    seed : int, default 0
        Seeds ``default_rng()``, ``RandomState()``, ``seed()`` and ``Random()``
        called without a seed.
    on_refusal : callable, optional
        Called with the :class:`~sandbox.audit.Finding` of each refusal before
        it is raised (the worker ends the run there).

    Returns
    -------
    dict
        Globals with ``__builtins__`` and every RestrictedPython hook.
    """
    refuse = make_refuse(on_refusal)
    values = ValueCheck(refuse)
    guarded_getattr = make_getattr(allowed_imports, refuse, make_substitute(seed, refuse), values)

    def guarded_hasattr(obj, name):
        try:
            guarded_getattr(obj, name)
        except (AttributeError, TypeError) as exc:
            if isinstance(exc, SandboxViolation):
                raise
            return False
        return True

    def guarded_iter(ob, *sentinel):
        return values.checked_iter(ob) if not sentinel else values.checked_iter(iter(ob, *sentinel))

    def guarded_getitem(ob, index):
        item = ob[index]
        kind = type(item)
        if kind in _PLAIN_TYPES or kind is np.ndarray and item.dtype.kind in _NUMERIC_KINDS:
            return item  # the hot path: numbers and arrays
        return values.hand_out(item, "an item")


    def guarded_hash(obj):
        stack = [obj]
        while stack:  # a tuple's hash mixes its items' hashes: check them all
            item = stack.pop()
            if isinstance(item, (tuple, frozenset)):
                stack.extend(item)
            elif _hashed_by_address(item):
                refuse("forbidden-call", f"hash() of {_hash_kind(item)} is derived from its address")
        return hash(obj)

    def safe_type(obj):
        """One-argument ``type``: a query that compares like the class but cannot be called."""
        return TypeQuery(type(obj), refuse)

    def dict_key(key):
        return _check_key(key, refuse)

    def guarded_apply(func, *args, **kwargs):
        for key in kwargs:
            _check_key(key, refuse)
        return func(*args, **kwargs)

    safe = dict(safe_builtins)
    for name in ("setattr", "delattr", "_getattr_", "__build_class__", "id"):
        safe.pop(name, None)
    safe.update({name: getattr(builtins, name) for name in ("__build_class__", "object")})
    safe.update(make_checked_builtins(values, refuse))
    safe.update({
        "iter": guarded_iter, "hasattr": guarded_hasattr, "type": safe_type, "hash": guarded_hash,
        "dict": make_dict(refuse, values), "isinstance": _safe_isinstance, "issubclass": _safe_issubclass,
        "__import__": make_import(allowed_imports, guarded_getattr, refuse),
    })
    values.given.update(id(value) for value in safe.values() if not isinstance(value, type))
    mod = make_mod(refuse, values.shown)
    return {
        "__builtins__": safe,
        "__name__": "synthesis_program",
        "__metaclass__": make_metaclass(refuse),
        "_getattr_": guarded_getattr,
        "_getitem_": guarded_getitem,
        "_getiter_": values.checked_iter,
        "_iter_unpack_sequence_": guarded_iter_unpack_sequence,  # both iterate with _getiter_
        "_unpack_sequence_": guarded_unpack_sequence,
        "_write_": make_write(refuse, values),
        "_inplacevar_": make_inplacevar(mod, values),
        "_mod_": mod,
        "_text_": without_addresses,
        "_shown_": values.shown,
        "_operated_": values.operated,
        "_enter_": values.enter,
        "_with_": lambda ctx: CheckedContext(ctx, values),
        "_sent_": values.sent,
        "_delegate_": values.delegated,
        "_print_": make_print(sink, safe["str"]),
        "_apply_": guarded_apply,
        "_dict_key_": dict_key,
    }
