"""Static audit of a synthesis program (sandbox layer 1).

A deny-by-default AST visitor in the style of RestrictedPython's policy:
unknown node types are refused, rule lists live in :mod:`sandbox.rules`, and
problems are collected as :class:`Finding` objects (``"Line N: rule: message"``)
instead of being raised.  The program must also compile under
RestrictedPython after the augmented-assignment rewrite, because that is
exactly what the worker executes.

Rule ids (stable): ``syntax-error``, ``signature``, ``top-level-statement``,
``node-not-allowed``, ``import-not-allowed``, ``dunder-access``,
``private-name``, ``forbidden-name``, ``forbidden-call``,
``forbidden-attribute``, ``numpy-denied``, ``restricted-python``,
``dunder-key``, ``too-deeply-nested``, ``bidi-control`` (a bidirectional
override or a control character in the text: code that reads differently
than it runs, "Trojan Source").  The runtime guards add
``module-attribute``, ``module-not-allowed``, ``write-not-allowed`` and
``proxy-introspection`` (reported by the worker as a ``violation``).
"""
import ast
import re
import unicodedata
from dataclasses import dataclass, field

from RestrictedPython import compile_restricted_exec

from das.sandbox import rules
from das.sandbox.rewrite import ProgramPolicy, rewrite_augmented

PROGRAM_FILENAME = "<program>"
#: Deepest AST a program may have; deeper ones are refused before any
#: recursive visitor (ours, RestrictedPython's, the compiler's) sees them.
MAX_DEPTH = 100
#: Bidirectional formatting characters and controls other than tab, newline, carriage return and form feed.
_BIDI_CONTROL = re.compile("[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c\u2028\u2029"
                           "\x00-\x08\x0b\x0e-\x1f\x7f-\x9f]")


@dataclass(frozen=True)
class Finding:
    """One audit problem: where, which rule, and why."""

    line: int
    rule: str
    message: str

    def __str__(self):
        return f"Line {self.line}: {self.rule}: {self.message}"

    def to_dict(self):
        """JSON-serializable form."""
        return {"line": self.line, "rule": self.rule, "message": self.message}


@dataclass(frozen=True)
class AuditReport:
    """Verdict of :func:`audit_source`: ``ok`` is True iff there are no findings."""

    ok: bool
    findings: tuple = field(default_factory=tuple)

    def __str__(self):
        if self.ok:
            return "audit passed"
        return "\n".join(str(f) for f in self.findings)

    def to_dict(self):
        """JSON-serializable form."""
        return {"ok": self.ok, "findings": [f.to_dict() for f in self.findings]}


class _Auditor(ast.NodeVisitor):
    """Collect findings for every node of a parsed program."""

    def __init__(self, allowed_imports, tree):
        self.allowed_imports = allowed_imports
        self.findings = []
        self.imports = set()
        # ids of the nodes where an otherwise refused name is fine
        self.main_guard_names = {id(stmt.test.left) for stmt in tree.body if _is_main_guard(stmt)}
        self.class_bases = set()
        self.class_methods = set()
        self.typing_names = _typing_names(tree)
        self.annotations = {id(n) for annotation in _annotations(tree) for n in ast.walk(annotation)}

    def add(self, node, rule, message):
        self.findings.append(Finding(getattr(node, "lineno", 0) or 0, rule, message))

    def generic_visit(self, node):
        if type(node) not in rules.ALLOWED_NODES:
            self.add(node, "node-not-allowed", f"{type(node).__name__} is not allowed")
            return  # don't descend: the whole construct is refused
        super().generic_visit(node)

    # -- names and attributes -------------------------------------------------
    def visit_Name(self, node):
        if id(node) not in self.main_guard_names:
            self._check_identifier(node, node.id, "name")
        if node.id in rules.FORBIDDEN_NAMES and id(node) not in self.class_bases:
            self.add(node, "forbidden-name", f'"{node.id}" is not allowed')
        if node.id in self.typing_names and id(node) not in self.annotations:
            self.add(node, "import-not-allowed", f'"{node.id}" comes from typing, whose names may be used '
                                                 f'only in annotations')
        self.generic_visit(node)

    def visit_arg(self, node):
        self._check_identifier(node, node.arg, "argument")
        self.generic_visit(node)

    def visit_FunctionDef(self, node):
        if not (id(node) in self.class_methods and node.name in rules.CLASS_DUNDERS):
            self._check_identifier(node, node.name, "function")
        if node.decorator_list:
            self.add(node, "node-not-allowed", "decorators are not allowed")
        self.generic_visit(node)

    def visit_ClassDef(self, node):
        self._check_identifier(node, node.name, "class")
        if node.decorator_list or node.keywords:
            self.add(node, "node-not-allowed", "class decorators and keywords are not allowed")
        for base in node.bases:
            if isinstance(base, ast.Name):
                self.class_bases.add(id(base))
            else:
                self.add(base, "node-not-allowed", "a class may only derive from object or a program class")
        for stmt in node.body:
            for target in getattr(stmt, "targets", [getattr(stmt, "target", None)]):
                if isinstance(target, ast.Name) and target.id.startswith("_"):
                    self.add(target, "private-name", f'class member "{target.id}" starts with "_"')
            if isinstance(stmt, ast.FunctionDef):
                self.class_methods.add(id(stmt))
                if stmt.name.startswith("_") and not rules.is_dunder(stmt.name):
                    self.add(stmt, "private-name", f'class member "{stmt.name}" starts with "_"')
            elif not isinstance(stmt, (ast.Assign, ast.AnnAssign, ast.Expr, ast.Pass)):
                self.add(stmt, "node-not-allowed", f"{type(stmt).__name__} is not allowed in a class body")
        self.generic_visit(node)

    def visit_Dict(self, node):
        for key in node.keys:
            self._check_key(key)
        self.generic_visit(node)

    def visit_keyword(self, node):
        if node.arg is not None and rules.is_dunder(node.arg):
            self.add(node, "dunder-key", f'keyword "{node.arg}" is a dunder name')
        self.generic_visit(node)

    def visit_Subscript(self, node):
        self._check_key(node.slice)
        self.generic_visit(node)

    def _check_key(self, key):
        if isinstance(key, ast.Constant) and isinstance(key.value, str) and rules.is_dunder(key.value):
            self.add(key, "dunder-key", f'key "{key.value}" is a dunder name')

    def visit_Attribute(self, node):
        attr = node.attr
        if rules.is_dunder(attr):
            self.add(node, "dunder-access", f'attribute "{attr}" is a dunder name')
        elif attr.startswith("_"):
            self.add(node, "private-name", f'attribute "{attr}" starts with "_"')
        elif attr in rules.NUMPY_DENIED:
            self.add(node, "numpy-denied", f'attribute "{attr}" is a denied file/native entry point')
        elif attr in rules.INSPECT_ATTRIBUTES:
            self.add(node, "forbidden-attribute", f'attribute "{attr}" gives access to interpreter internals')
        self.generic_visit(node)

    def _check_identifier(self, node, name, kind):
        """Refuse dunder and reserved ``_`` identifiers; True when a finding was added.

        A program's own ``_helper`` names are fine; names ending in ``_``
        (RestrictedPython's hooks) are not.
        """
        if rules.is_dunder(name):
            self.add(node, "dunder-access", f'{kind} "{name}" is a dunder name')
            return True
        if name.startswith("_") and name != "_" and not rules.is_private_name(name):
            self.add(node, "private-name", f'{kind} "{name}" is reserved for the sandbox')
            return True
        return False

    # -- calls ----------------------------------------------------------------
    def visit_Call(self, node):
        func = node.func
        if isinstance(func, ast.Name) and func.id == "type" and len(node.args) != 1:
            self.add(node, "forbidden-call", "type() with more than one argument creates classes")
        self.generic_visit(node)

    # -- imports ----------------------------------------------------------------
    def visit_Import(self, node):
        for alias in node.names:
            if alias.name != rules.ANNOTATION_MODULE:
                self._check_import(node, alias.name)
            if alias.asname:
                self._check_identifier(node, alias.asname, "alias")
        self.generic_visit(node)

    def visit_ImportFrom(self, node):
        if node.level:
            self.add(node, "import-not-allowed", "relative imports are not allowed")
            return
        module = node.module or ""
        if module == rules.ANNOTATION_MODULE:
            for alias in node.names:
                if alias.name == "*":
                    self.add(node, "import-not-allowed", f"from {module} import * is not allowed")
                else:
                    self._check_identifier(node, alias.asname or alias.name, "imported name")
        elif self._check_import(node, module, [alias.name for alias in node.names]):
            for alias in node.names:
                if alias.name == "*":
                    self.add(node, "import-not-allowed", f"from {module} import * is not allowed")
                    continue
                self._check_from_name(node, module, alias.name)
                if alias.asname:
                    self._check_identifier(node, alias.asname, "alias")
        self.generic_visit(node)

    def _check_import(self, node, module, fromlist=()):
        if not rules.importable(module, fromlist, self.allowed_imports):
            self.add(node, "import-not-allowed", f'import of "{module}" is not allowed')
            return False
        self.imports.add(module)
        return True

    def _check_from_name(self, node, module, name):
        if self._check_identifier(node, name, "imported name"):
            return
        if name in rules.NUMPY_DENIED:
            self.add(node, "numpy-denied", f'"{module}.{name}" is a denied file/native entry point')
        elif name in rules.FORBIDDEN_NAMES:
            self.add(node, "forbidden-name", f'"{name}" is not allowed')
        elif name not in (rules.readable_names(module, self.allowed_imports) or ()):
            self.add(node, "import-not-allowed", f'"{module}.{name}" is not on the allow-list')


def _typing_names(tree):
    """Names the program binds by importing ``typing`` (anywhere in the tree)."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.asname or a.name for a in node.names if a.name == rules.ANNOTATION_MODULE)
        elif isinstance(node, ast.ImportFrom) and node.module == rules.ANNOTATION_MODULE and not node.level:
            names.update(a.asname or a.name for a in node.names)
    return names


def _annotations(tree):
    """Every annotation expression: of parameters, returns and annotated assignments."""
    for node in ast.walk(tree):
        if isinstance(node, ast.arg) and node.annotation is not None:
            yield node.annotation
        elif isinstance(node, ast.FunctionDef) and node.returns is not None:
            yield node.returns
        elif isinstance(node, ast.AnnAssign):
            yield node.annotation


def _is_main_guard(stmt):
    """``if __name__ == "__main__":`` exactly."""
    test = getattr(stmt, "test", None)
    return (isinstance(stmt, ast.If) and isinstance(test, ast.Compare)
            and isinstance(test.left, ast.Name) and test.left.id == "__name__"
            and len(test.ops) == 1 and isinstance(test.ops[0], ast.Eq)
            and isinstance(test.comparators[0], ast.Constant) and test.comparators[0].value == "__main__")


def _too_deep(tree):
    """Whether the AST is deeper than ``MAX_DEPTH`` (iterative: no recursion)."""
    stack = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            return True
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))
    return False


def _check_top_level(tree, allow_degree, findings):
    """Module level: helpers, imports, constants and exactly one entry point."""
    entries = []
    for stmt in tree.body:
        if type(stmt) not in rules.TOP_LEVEL_NODES or (isinstance(stmt, ast.If) and not _is_main_guard(stmt)):
            findings.append(Finding(stmt.lineno, "top-level-statement",
                                    f"{type(stmt).__name__} is not allowed at module level"))
        elif isinstance(stmt, ast.Expr) and not (
            isinstance(stmt.value, ast.Constant) and isinstance(stmt.value.value, str)
        ):
            findings.append(Finding(stmt.lineno, "top-level-statement",
                                    "only docstrings may be bare expressions at module level"))
        elif isinstance(stmt, ast.FunctionDef) and stmt.name == rules.ENTRY_POINT:
            entries.append(stmt)
    if len(entries) != 1:
        findings.append(Finding(entries[1].lineno if entries else 1, "signature",
                                f"expected exactly one top-level {rules.ENTRY_POINT}, found {len(entries)}"))
        return
    _check_signature(entries[0], allow_degree, findings)


def _check_signature(func, allow_degree, findings):
    for problem in signature_problems(func, allow_degree):
        findings.append(Finding(func.lineno, "signature", problem))


def signature_problems(func, allow_degree=True):
    """What is wrong with the entry point ``func`` (an ``ast.FunctionDef``); empty when nothing.

    The one signature rule: the audit's ``signature`` findings and the property
    suite's ``signature`` property both use it.
    """
    args = func.args
    names = tuple(a.arg for a in args.args)
    expected = rules.ENTRY_PARAMS
    allowed = {expected}
    if allow_degree:
        allowed.add(expected + (rules.DEGREE_PARAM,))
    problems = []
    if names not in allowed:
        want = ", ".join(expected) + (f"[, {rules.DEGREE_PARAM}]" if allow_degree else "")
        problems.append(f"parameters must be ({want}), got ({', '.join(names)})")
    if args.posonlyargs or args.kwonlyargs or args.vararg or args.kwarg:
        problems.append("positional-only, keyword-only, *args and **kwargs parameters are not allowed")
    if len(args.defaults) > (1 if len(names) == 4 else 0):
        problems.append("only the degree parameter may have a default")
    return problems


def _restricted_errors(tree):
    """Compile ``tree`` with RestrictedPython; return (code, error strings)."""
    result = compile_restricted_exec(tree, filename=PROGRAM_FILENAME, policy=ProgramPolicy)
    return result.code, tuple(result.errors)


def _split_error(error):
    """Split a RestrictedPython "Line N: text" message into (N, text)."""
    if error.startswith("Line "):
        head, _, text = error[5:].partition(":")
        if head.isdigit():
            return int(head), text.strip()
    return 0, error


def analyze(source, allowed_imports=None, allow_degree=True):
    """Audit and compile ``source``.

    Returns
    -------
    tuple
        ``(report, code, imports)``: the :class:`AuditReport`, the restricted
        code object (None unless the report is ok) and the set of imported
        module names (for pre-loading them in the parent before forking).
    """
    allowed = rules.DEFAULT_IMPORTS if allowed_imports is None else frozenset(allowed_imports)
    if not isinstance(source, str):
        finding = Finding(0, "syntax-error", f"source must be str, got {type(source).__name__}")
        return AuditReport(False, (finding,)), None, set()
    try:
        tree = ast.parse(source, filename=PROGRAM_FILENAME)
    except (SyntaxError, ValueError) as exc:  # ValueError: null bytes
        line = getattr(exc, "lineno", 0) or 0
        msg = getattr(exc, "msg", None) or str(exc)
        return _refused(Finding(line, "syntax-error", msg))
    except (RecursionError, MemoryError):
        return _refused(Finding(0, "too-deeply-nested", "program is too deeply nested to parse"))
    if _too_deep(tree):
        return _refused(Finding(0, "too-deeply-nested", f"program is nested deeper than {MAX_DEPTH} levels"))
    findings = _character_findings(source)
    auditor = _Auditor(allowed, tree)
    auditor.visit(tree)
    findings.extend(auditor.findings)
    _check_top_level(tree, allow_degree, findings)
    code = None
    if not findings:
        try:
            code, errors = _restricted_errors(rewrite_augmented(tree))
        except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
            code, errors = None, (str(exc),)
        for error in errors:
            line, text = _split_error(error)
            findings.append(Finding(line, "restricted-python", text))
    findings.sort(key=lambda f: f.line)
    ok = not findings
    return AuditReport(ok, tuple(findings)), (code if ok else None), auditor.imports


def _character_findings(source):
    """One ``bidi-control`` finding per line holding a bidi or control character (named, never shown)."""
    findings = []
    for number, line in enumerate(source.split("\n"), 1):
        found = _BIDI_CONTROL.findall(line)
        if found:
            more = f" and {len(found) - 1} more" if len(found) > 1 else ""
            name = unicodedata.name(found[0], "control character")
            findings.append(Finding(number, "bidi-control", f"U+{ord(found[0]):04X} ({name}){more}: bidi and "
                                    "control characters make code read differently than it runs"))
    return findings


def _refused(finding):
    """``analyze``'s answer for a program refused before its AST is visited."""
    return AuditReport(False, (finding,)), None, set()


def audit_source(source, allowed_imports=None, allow_degree=True):
    """Statically audit a synthesis program; never raises for bad code.

    Parameters
    ----------
    source : str
        Program text defining ``generate_hard_anomalies``.
    allowed_imports : iterable of str, optional
        Importable modules; None means ``sandbox.rules.DEFAULT_IMPORTS``
        (numpy, math, random and the reviewed scipy/sklearn modules).
    allow_degree : bool, default True
        Accept the optional fourth ``degree`` parameter.

    Returns
    -------
    AuditReport
        ``ok`` and the findings, sorted by line.
    """
    return analyze(source, allowed_imports, allow_degree)[0]
