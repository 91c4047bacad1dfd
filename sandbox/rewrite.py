"""AST rewrites applied before restricted compilation.

RestrictedPython refuses augmented assignment to items, slices and
attributes (``a[i] += x``) although LLM-written numpy code uses it often.
Rather than loosening the guards we rewrite such statements into plain ones
with Python's meaning: the container, each index part and the item are
evaluated once, in Python's order, and bound to fresh ``_aug<n>`` names; the
item is updated in place (``x op= v`` on a name, which RestrictedPython routes
through its guarded in-place hook) and stored back.  Annotated assignments
(``x: float = 1.0``), also refused by RestrictedPython, become plain ones;
every other annotation is dropped, and with them the imports of
``rules.ANNOTATION_MODULE`` (the audit allowed its names in annotations only).
:class:`ProgramPolicy` is the RestrictedPython policy the program is
compiled with.
"""
import ast
import copy

from RestrictedPython.transformer import RestrictingNodeTransformer

from das.sandbox import rules


class _AugAssignRewriter(ast.NodeTransformer):
    """Turn ``target op= value`` on subscripts/attributes into plain assignment; drop annotations."""

    def __init__(self, taken):
        self.taken = set(taken)  # names the program uses: a temporary never shadows one
        self.bound = []  # (name, expression) to bind before the statement being rewritten

    def visit_AugAssign(self, node):
        """``t[k] op= v`` becomes what Python does: ``c = t; i = k; x = c[i]; x op= v; c[i] = x``
        (the container, each index part and the item bound once, in Python's order; ``x op= v``
        on a name is RestrictedPython's in-place update, so an array or list item changes in
        place as in Python). Attributes alike."""
        self.generic_visit(node)
        if not isinstance(node.target, (ast.Subscript, ast.Attribute)):
            return node
        self.bound = []
        target = copy.copy(node.target)
        target.value = self._once(target.value, force=True)
        if isinstance(target, ast.Subscript):
            target.slice = self._index_once(target.slice, force=True)
        item = self._once(_as_load(copy.deepcopy(target)), force=True)
        binds = [ast.Assign(targets=[ast.Name(id=name, ctx=ast.Store())], value=expr) for name, expr in self.bound]
        update = ast.AugAssign(target=ast.Name(id=item.id, ctx=ast.Store()), op=node.op, value=node.value)
        store = ast.Assign(targets=[target], value=ast.Name(id=item.id, ctx=ast.Load()))
        return [ast.fix_missing_locations(ast.copy_location(stmt, node)) for stmt in (*binds, update, store)]

    def _once(self, expr, force=False):
        """``expr`` itself when evaluating it twice is harmless (a constant; a name unless
        ``force``), else a fresh name bound to it before the statement."""
        if expr is None or isinstance(expr, ast.Constant) or (not force and isinstance(expr, ast.Name)):
            return expr
        n = len(self.taken)
        while f"_aug{n}" in self.taken:
            n += 1
        name = f"_aug{n}"
        self.taken.add(name)
        self.bound.append((name, _as_load(expr)))
        return ast.Name(id=name, ctx=ast.Load())

    def _index_once(self, index, force=False):
        if isinstance(index, ast.Slice):
            return ast.Slice(lower=self._once(index.lower, force), upper=self._once(index.upper, force),
                             step=self._once(index.step, force))
        if isinstance(index, ast.Tuple):
            return ast.Tuple(elts=[self._index_once(e, force) for e in index.elts], ctx=ast.Load())
        if isinstance(index, ast.Starred):  # an iterator is consumed once: bound as a tuple
            packed = ast.Tuple(elts=[ast.Starred(value=index.value, ctx=ast.Load())], ctx=ast.Load())
            return ast.Starred(value=self._once(packed, force=True), ctx=ast.Load())
        return self._once(index, force)

    def visit_AnnAssign(self, node):
        # RestrictedPython refuses annotated assignments; annotations are
        # dropped (never evaluated), the assignment is kept.
        self.generic_visit(node)
        if node.value is None:
            return ast.copy_location(ast.Pass(), node)
        new = ast.Assign(targets=[node.target], value=node.value)
        return ast.fix_missing_locations(ast.copy_location(new, node))

    def visit_arg(self, node):
        node.annotation = None
        return node

    def visit_FunctionDef(self, node):
        self.generic_visit(node)
        node.returns = None
        return node

    def visit_Import(self, node):
        node.names = [a for a in node.names if a.name != rules.ANNOTATION_MODULE]
        return node if node.names else ast.copy_location(ast.Pass(), node)

    def visit_ImportFrom(self, node):
        if node.module == rules.ANNOTATION_MODULE and not node.level:
            return ast.copy_location(ast.Pass(), node)
        return node


def _as_load(node):
    """Set every Store context in ``node`` to Load."""
    for child in ast.walk(node):
        if isinstance(getattr(child, "ctx", None), ast.Store):
            child.ctx = ast.Load()
    return node


def rewrite_augmented(tree):
    """Rewrite augmented item/attribute assignments in ``tree`` (in place).

    Parameters
    ----------
    tree : ast.Module
        Parsed program.

    Returns
    -------
    ast.Module
        The same tree, rewritten.
    """
    taken = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} | {
        a.arg for a in ast.walk(tree) if isinstance(a, ast.arg)}
    tree = _AugAssignRewriter(taken).visit(tree)
    return ast.fix_missing_locations(tree)


class ProgramPolicy(RestrictingNodeTransformer):
    """RestrictedPython's policy, adjusted to what the audit allows.

    Names starting with one ``_`` (helpers), ``nonlocal`` and the
    ``__name__`` read of the main guard are accepted; computed dict keys
    (literals and comprehensions) are routed through the ``_dict_key_``
    hook, which refuses dunder strings at run time.
    """

    def check_name(self, node, name, allow_magic_methods=False):
        if name is not None and (rules.is_private_name(name) or name == "__name__"):
            return
        super().check_name(node, name, allow_magic_methods)

    def visit_Nonlocal(self, node):
        return self.node_contents_visit(node)

    def visit_Dict(self, node):
        node = self.node_contents_visit(node)
        node.keys = [key if key is None or isinstance(key, ast.Constant) else _key_hook(key)
                     for key in node.keys]
        return node

    def visit_Starred(self, node):
        # ``f(*x)``, ``[*x]``: C code unpacks ``x``; route it through the checked
        # iteration so library items are value-checked as in a ``for`` loop.
        node = self.node_contents_visit(node)
        if isinstance(node.ctx, ast.Load):
            node.value = _hook("_getiter_", node.value)
        return node

    # Where values enter program code from outside it: the arguments of a
    # function, method, class or lambda (whoever calls it: a sort key, a
    # generator's ``send``, a class passed as a callback) and the values sent
    # into a generator are checked by the ``_enter_`` / ``_sent_`` hooks.
    def visit_FunctionDef(self, node):
        node = super().visit_FunctionDef(node)
        entry = _entry_check(node.args, node, always=_is_generator(node))
        if entry is not None:
            node.body.insert(0, ast.copy_location(ast.Expr(entry), node))
        return node

    def visit_Lambda(self, node):
        node = super().visit_Lambda(node)
        entry = _entry_check(node.args, node)
        if entry is not None:  # ``_enter_(...)`` returns None: ``None or body`` is the body
            node.body = ast.copy_location(ast.BoolOp(ast.Or(), [entry, node.body]), node)
        return node

    def visit_Yield(self, node):
        return _hook("_sent_", super().visit_Yield(node))

    def visit_YieldFrom(self, node):
        node = super().visit_YieldFrom(node)
        node.value = _hook("_delegate_", node.value)  # iterated as ``for`` iterates (set order checked)
        return _hook("_sent_", node)

    def visit_withitem(self, node):
        node = super().visit_withitem(node)
        if node.optional_vars is not None:  # ``with ctx as name``: what ``__enter__`` returns is checked
            node.context_expr = _hook("_with_", node.context_expr)
        return node

    # Text made by the program never shows an object address (``_text_``,
    # ``_mod_``), and bytes formatting takes plain values only (``_mod_``).
    def visit_JoinedStr(self, node):
        outer = not getattr(self, "_in_fstring", False)
        self._in_fstring = True  # a format spec is a nested JoinedStr: left as it is
        try:
            node = super().visit_JoinedStr(node)
        finally:
            self._in_fstring = not outer
        for part in node.values:  # ``f"{s}"`` shows a set in its order: checked like ``str(s)``
            if isinstance(part, ast.FormattedValue):
                part.value = _hook("_shown_", part.value)
        return _hook("_text_", node) if outer else node

    # What an operator makes is checked like a call result (``_operated_``):
    # numpy turns ``array + [2**100]`` into an object array.
    def visit_BinOp(self, node):
        node = super().visit_BinOp(node)
        if isinstance(node.op, ast.Mod):
            call = ast.Call(func=ast.Name("_mod_", ast.Load()), args=[node.left, node.right], keywords=[])
            node = ast.fix_missing_locations(ast.copy_location(call, node))
        return _hook("_operated_", node)

    def visit_UnaryOp(self, node):
        node = super().visit_UnaryOp(node)
        return node if isinstance(node.op, ast.Not) else _hook("_operated_", node)

    def visit_DictComp(self, node):
        node = super().visit_DictComp(node)
        if not isinstance(node.key, ast.Constant):
            node.key = _key_hook(node.key)
        return node


def _entry_check(args, where, always=False):
    """``_enter_((every parameter,))`` for a function's parameters (at ``where``'s line), None without any;
    ``_enter_(params, True)`` when they are checked whoever called (a generator's)."""
    names = [a.arg for a in args.posonlyargs + args.args]
    names += [args.vararg.arg] if args.vararg else []
    names += [a.arg for a in args.kwonlyargs] + ([args.kwarg.arg] if args.kwarg else [])
    if not names:
        return None
    params = ast.fix_missing_locations(ast.copy_location(
        ast.Tuple([ast.Name(name, ast.Load()) for name in names], ast.Load()), where))
    call = _hook("_enter_", params)
    if always:
        call.args.append(ast.copy_location(ast.Constant(True), where))
    return call


def _is_generator(function):
    """Whether ``function``'s own body (not a nested function, lambda or class) yields."""
    stack = list(function.body)
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.Yield, ast.YieldFrom)):
            return True
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            stack.extend(ast.iter_child_nodes(node))
    return False


def _key_hook(key):
    """``_dict_key_(key)`` at the key's location."""
    return _hook("_dict_key_", key)


def _hook(name, value):
    """``name(value)`` at the value's location (``name``: one of the worker's guard hooks)."""
    call = ast.Call(func=ast.Name(name, ast.Load()), args=[value], keywords=[])
    return ast.fix_missing_locations(ast.copy_location(call, value))
