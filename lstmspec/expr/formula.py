"""Derived dims written as formulas: ``rows = { formula = "ceil(frame_rows / 32)" }``.

A formula is parsed with ``ast`` through an allow-list, like an equation:
declared dims, integer attributes (``step``), integer literals, ``+ - *``,
``a // b`` and ``ceil(a / b)`` / ``floor(a / b)``. The result is a symbolic
``Dim``, so a backbone's output size (``ceil(image_rows / 32)`` for a
ResNet-18 or a MobileNet) or a neighbourhood's size (``2*radius*(radius + 1)``)
is written once and compared symbolically with every shape that uses it.

    >>> parse_formula("ceil(rows / 32)", dims={"rows"}).render()
    'ceil(rows / 32)'
"""
from __future__ import annotations

import ast
from collections.abc import Callable, Container

from ..errors import SpecError
from .dims import AttrValue, Dim, Div, Lit, Prod, Sum, Sym
from .parse import parse_tree


class _Formula:
    def __init__(self, source: str, dims: Container[str], attrs: Container[str],
                 resolve: Callable[[str], Dim] | None) -> None:
        self.source, self.dims, self.attrs = source, dims, attrs
        self.resolve = resolve or Sym

    def fail(self, node: ast.AST, message: str) -> SpecError:
        return SpecError(message, text=ast.get_source_segment(self.source, node) or self.source)

    def visit(self, node: ast.AST) -> Dim:
        if isinstance(node, ast.Expression):
            return self.visit(node.body)
        if isinstance(node, ast.Name):
            if node.id in self.dims:
                return self.resolve(node.id)
            if node.id in self.attrs:
                return AttrValue(node.id)
            raise self.fail(node, f"{node.id!r} is not a dimension declared above or an integer attribute")
        if isinstance(node, ast.Constant):
            if type(node.value) is not int or node.value < 0:
                raise self.fail(node, "only non-negative integer literals are allowed in a formula")
            return Lit(node.value)
        if isinstance(node, ast.BinOp):
            left, right = self.visit(node.left), self.visit(node.right)
            if isinstance(node.op, ast.Add):
                return Sum.of(left, right)
            if isinstance(node.op, ast.Sub):
                return Sum.of(left, Prod.of(Lit(-1), right))
            if isinstance(node.op, ast.Mult):
                return Prod.of(left, right)
            if isinstance(node.op, ast.FloorDiv):
                return self.quotient(node, left, right, ceil=False)
            raise self.fail(node, "a formula has + - * // and ceil(a / b), floor(a / b)")
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("ceil", "floor"):
            arg = node.args[0] if len(node.args) == 1 and not node.keywords else None
            if not (isinstance(arg, ast.BinOp) and isinstance(arg.op, ast.Div)):
                raise self.fail(node, f"{node.func.id} takes one quotient, {node.func.id}(a / b)")
            return self.quotient(node, self.visit(arg.left), self.visit(arg.right), ceil=node.func.id == "ceil")
        raise self.fail(node, f"{type(node).__name__} is not allowed in a dimension formula")

    def quotient(self, node: ast.AST, num: Dim, den: Dim, *, ceil: bool) -> Dim:
        if den == Lit(0):
            raise self.fail(node, "division by zero")
        return Div.of(num, den, ceil=ceil)


def parse_formula(source: str, *, dims: Container[str], attrs: Container[str] = (),
                  resolve: Callable[[str], Dim] | None = None) -> Dim:
    """The Dim of ``source``; ``resolve`` maps a dim name to its Dim (derived dims expanded)."""
    if isinstance(source, int) and not isinstance(source, bool):
        return Lit(source)
    if not isinstance(source, str) or not source.strip():
        raise SpecError("a formula is a string such as \"ceil(rows / 32)\" or an integer", text=repr(source))
    return _Formula(source.strip(), dims, attrs, resolve).visit(parse_tree(source.strip(), what="formula"))

