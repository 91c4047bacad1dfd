"""AST rewrites applied before restricted compilation.

RestrictedPython refuses augmented assignment to items, slices and
attributes (``a[i] += x``) although LLM-written numpy code uses it often.
Rather than loosening the guards we rewrite such statements to
``a[i] = a[i] + x``, which has the same meaning for numpy arrays, lists and
dicts (numpy's ``a[idx] += x`` does not accumulate repeated indices either).
The target expression is evaluated twice; for the side-effect-free index
expressions programs use this is harmless.  Annotated assignments
(``x: float = 1.0``), also refused by RestrictedPython, become plain ones.
"""
import ast
import copy


class _AugAssignRewriter(ast.NodeTransformer):
    """Turn ``target op= value`` on subscripts/attributes into plain assignment."""

    def visit_AugAssign(self, node):
        self.generic_visit(node)
        if not isinstance(node.target, (ast.Subscript, ast.Attribute)):
            return node
        load_target = _as_load(copy.deepcopy(node.target))
        new = ast.Assign(
            targets=[node.target],
            value=ast.BinOp(left=load_target, op=node.op, right=node.value),
        )
        return ast.fix_missing_locations(ast.copy_location(new, node))


    def visit_AnnAssign(self, node):
        # RestrictedPython refuses annotated assignments; annotations are
        # dropped (never evaluated), the assignment is kept.
        self.generic_visit(node)
        if node.value is None:
            return ast.copy_location(ast.Pass(), node)
        new = ast.Assign(targets=[node.target], value=node.value)
        return ast.fix_missing_locations(ast.copy_location(new, node))


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
    tree = _AugAssignRewriter().visit(tree)
    return ast.fix_missing_locations(tree)
