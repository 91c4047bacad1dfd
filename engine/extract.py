"""Turn a raw LLM response into the program, its policy and its explanation.

Responses mix prose, fenced code and sometimes several functions or usage
examples. The program kept is: the top-level imports, constants, classes and
function definitions of the code block that defines ``generate_hard_anomalies``
(helpers included, example calls and ``__main__`` blocks dropped). The policy
is that function's docstring (paper Eq. 3), the explanation is its comments
plus the prose around the code.
"""
import ast
import io
import re
import tokenize
from dataclasses import dataclass

from das.sandbox.properties import MAX_SOURCE_BYTES
from das.sandbox.rules import ENTRY_POINT

_KEPT = (ast.Import, ast.ImportFrom, ast.Assign, ast.AnnAssign, ast.ClassDef, ast.FunctionDef)
#: A fenced block; its info string holds no backtick (as in CommonMark), so a line of backticks is linear.
_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[^\n`]*\n(.*?)```", re.S)


class ExtractionError(ValueError):
    """The response holds no usable ``generate_hard_anomalies`` function."""


@dataclass(frozen=True)
class ExtractedProgram:
    """Structured output of one response.

    Attributes
    ----------
    source : str
        Program text: top-level imports, constants, classes and functions; ends with a
        newline.
    policy : str
        Docstring of ``generate_hard_anomalies`` ("" if absent).
    comments : tuple of str
        ``#`` comments inside the program, in order.
    prose : str
        Response text outside the code block.
    """

    source: str
    policy: str
    comments: tuple
    prose: str

    @property
    def explanation(self):
        """Comments and prose together (the paper's S_explanation)."""
        return "\n".join(self.comments + ((self.prose,) if self.prose else ()))


def _blocks(text):
    """Candidate code blocks ``(code, span, line of the code's first line in text)``: fenced blocks
    first, else the text from the first import/def."""
    fenced, line, counted = [], 1, 0
    for m in _FENCE.finditer(text):  # lines counted once over the text, not from its start per block
        line, counted = line + text.count("\n", counted, m.start(2)), m.start(2)
        fenced.append((m.group(2), m.span(), line))
    if fenced:
        return fenced
    start = re.search(r"^(import |from |def )", text, re.M)
    return [(text[start.start():], (start.start(), len(text)), text.count("\n", 0, start.start()) + 1)] if start else []


def _parse(code):
    try:
        return ast.parse(code)
    except SyntaxError:
        return None


def _is_example(node, defined):
    """True for an assignment that calls the block's own functions (usage example code)."""
    return any(isinstance(sub, ast.Call) and isinstance(sub.func, ast.Name)
               and sub.func.id in defined for sub in ast.walk(node))


def _first_line(node):
    """Line of a top-level statement's first line, decorators included."""
    return node.decorator_list[0].lineno if getattr(node, "decorator_list", None) else node.lineno


def _check_size(text):
    """Refuse text over the audit's size limit before any work that grows with it."""
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_SOURCE_BYTES:
        raise ExtractionError(f"the text is {size:,} bytes, more than the {MAX_SOURCE_BYTES:,} a program may have")


def _kept_nodes(tree, entry):
    """The top-level imports, constants, classes and functions, in order.

    ``entry`` is the only entry point kept; example calls, ``__main__`` blocks and
    other bare statements are dropped (the audit refuses them).
    """
    defined = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    kept = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == ENTRY_POINT and node is not entry:
            continue  # a redefinition: Python keeps the last one, so do we
        if isinstance(node, (ast.Assign, ast.AnnAssign)) and _is_example(node, defined):
            continue
        if isinstance(node, _KEPT):
            kept.append(node)
    return kept


def _keep(tree, code, entry):
    """Source of the kept statements, one blank-line pair between them."""
    lines = code.splitlines()
    return "\n\n\n".join("\n".join(lines[_first_line(n) - 1:n.end_lineno])
                          for n in _kept_nodes(tree, entry)).strip() + "\n"


def _keep_in_place(tree, code, entry, first_line):
    """Source of the kept statements, each at its line in the file (the code starts at ``first_line``);
    every other line is blank, so an audit finding's line number is the file's."""
    lines = code.splitlines()
    out = [""] * (first_line - 1 + len(lines))
    for node in _kept_nodes(tree, entry):
        first = _first_line(node)
        out[first_line - 2 + first:first_line - 1 + node.end_lineno] = lines[first - 1:node.end_lineno]
    return "\n".join(out).rstrip() + "\n"


def _comments(source):
    out = []
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            out.append(tok.string.lstrip("#").strip())
    return tuple(c for c in out if c)


def extract_program(text, in_place=False):
    """Extract the synthesis program from a raw response.

    ``in_place``: keep each statement at its line in ``text`` (the other
    lines blank), so that line numbers in reports are the file's.

    Raises
    ------
    ExtractionError
        If no code block parses and defines ``generate_hard_anomalies``, or
        the text is over the audit's size limit.
    """
    if not isinstance(text, str) or not text.strip():
        raise ExtractionError("empty response")
    _check_size(text)
    problems = []
    for code, span, first_line in _blocks(text):
        tree = _parse(code)
        if tree is None:
            if ENTRY_POINT in code:
                problems.append(f"a code block defining {ENTRY_POINT} does not parse")
            continue
        funcs = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == ENTRY_POINT]
        if not funcs:
            continue
        source = _keep_in_place(tree, code, funcs[-1], first_line) if in_place else _keep(tree, code, funcs[-1])
        policy = ast.get_docstring(funcs[-1]) or ""
        prose = (text[:span[0]] + text[span[1]:]).strip()
        return ExtractedProgram(source, policy, _comments(source), prose)
    detail = "; ".join(problems) or f"no code defines a top-level function {ENTRY_POINT}"
    raise ExtractionError(f"no usable program in the response: {detail}")


def program_source(text, in_place=False):
    """The program in a file's ``text``: the text itself, byte for byte, when it is Python (or has
    no ``` fences, so the audit reports its syntax errors); else the code inside its fences (an
    LLM answer pasted with prose around it). ``in_place``: see :func:`extract_program`.

    Raises
    ------
    ExtractionError
        If fenced text holds no ``generate_hard_anomalies`` function, or is
        over the audit's size limit.
    """
    if "```" not in text or _parse(text) is not None:
        return text
    return extract_program(text, in_place=in_place).source
