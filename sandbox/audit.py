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
``forbidden-attribute``, ``numpy-denied``, ``restricted-python``.
"""
import ast
from dataclasses import dataclass, field

from RestrictedPython import compile_restricted_exec

from sandbox import rules
from sandbox.rewrite import rewrite_augmented

PROGRAM_FILENAME = "<program>"


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

    def __init__(self, allowed_imports):
        self.allowed_imports = allowed_imports
        self.findings = []
        self.imports = set()

    def add(self, node, rule, message):
        self.findings.append(Finding(getattr(node, "lineno", 0) or 0, rule, message))

    def generic_visit(self, node):
        if type(node) not in rules.ALLOWED_NODES:
            self.add(node, "node-not-allowed", f"{type(node).__name__} is not allowed")
            return  # don't descend: the whole construct is refused
        super().generic_visit(node)

    # -- names and attributes -------------------------------------------------
    def visit_Name(self, node):
        self._check_identifier(node, node.id, "name")
        if node.id in rules.FORBIDDEN_NAMES:
            self.add(node, "forbidden-name", f'"{node.id}" is not allowed')
        self.generic_visit(node)

    def visit_arg(self, node):
        self._check_identifier(node, node.arg, "argument")
        self.generic_visit(node)

    def visit_FunctionDef(self, node):
        self._check_identifier(node, node.name, "function")
        if node.decorator_list:
            self.add(node, "node-not-allowed", "decorators are not allowed")
        self.generic_visit(node)

    def visit_Attribute(self, node):
        attr = node.attr
        if self._check_identifier(node, attr, "attribute"):
            pass
        elif attr in rules.NUMPY_DENIED:
            self.add(node, "numpy-denied", f'attribute "{attr}" is a denied file/native entry point')
        elif attr in rules.INSPECT_ATTRIBUTES:
            self.add(node, "forbidden-attribute", f'attribute "{attr}" gives access to interpreter internals')
        self.generic_visit(node)

    def _check_identifier(self, node, name, kind):
        """Refuse dunder and private identifiers; True when a finding was added."""
        if rules.is_dunder(name):
            self.add(node, "dunder-access", f'{kind} "{name}" is a dunder name')
            return True
        if name.startswith("_") and name != "_":
            self.add(node, "private-name", f'{kind} "{name}" starts with "_"')
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
            self._check_import(node, alias.name)
            if alias.asname:
                self._check_identifier(node, alias.asname, "alias")
        self.generic_visit(node)

    def visit_ImportFrom(self, node):
        if node.level:
            self.add(node, "import-not-allowed", "relative imports are not allowed")
            return
        module = node.module or ""
        if self._check_import(node, module):
            for alias in node.names:
                if alias.name == "*":
                    self.add(node, "import-not-allowed", f"from {module} import * is not allowed")
                    continue
                self._check_from_name(node, module, alias.name)
                if alias.asname:
                    self._check_identifier(node, alias.asname, "alias")
        self.generic_visit(node)

    def _check_import(self, node, module):
        if not rules.module_allowed(module, self.allowed_imports) or not any(
            module == a or module.startswith(a + ".") for a in self.allowed_imports
        ):
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


def _check_top_level(tree, allow_degree, findings):
    """Module level: helpers, imports, constants and exactly one entry point."""
    entries = []
    for stmt in tree.body:
        if type(stmt) not in rules.TOP_LEVEL_NODES:
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
    for problem in problems:
        findings.append(Finding(func.lineno, "signature", problem))


def _restricted_errors(tree):
    """Compile ``tree`` with RestrictedPython; return (code, error strings)."""
    result = compile_restricted_exec(tree, filename=PROGRAM_FILENAME)
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
        return AuditReport(False, (Finding(line, "syntax-error", msg),)), None, set()
    except RecursionError:
        return AuditReport(False, (Finding(0, "syntax-error", "program is nested too deeply"),)), None, set()
    findings = []
    auditor = _Auditor(allowed)
    try:
        auditor.visit(tree)
    except RecursionError:
        findings.append(Finding(0, "syntax-error", "program is nested too deeply"))
    findings.extend(auditor.findings)
    _check_top_level(tree, allow_degree, findings)
    code = None
    if not findings:
        try:
            code, errors = _restricted_errors(rewrite_augmented(tree))
        except (SyntaxError, ValueError, RecursionError) as exc:
            code, errors = None, (str(exc),)
        for error in errors:
            line, text = _split_error(error)
            findings.append(Finding(line, "restricted-python", text))
    findings.sort(key=lambda f: f.line)
    ok = not findings
    return AuditReport(ok, tuple(findings)), (code if ok else None), auditor.imports


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
