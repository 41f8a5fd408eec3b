"""Symbolic shape inference over the IR.

Every node gets a shape made of symbolic dims; a mismatch is a SpecError that
quotes the sub-expression and both shapes, e.g.

    shape mismatch in `W_i @ x`: (input, units) @ (batch, input): inner dimensions units and batch differ
"""
from __future__ import annotations

from collections.abc import Callable, Mapping

from ..errors import SpecError
from .dims import Lit, Shape, render_shape
from .functions import FUNCTIONS, infer_call
from .ir import BinOp, Call, Name, Neg, Node, Num


def broadcast(left: Shape, right: Shape, node: Node) -> Shape:
    """numpy broadcasting on symbolic shapes: align right, equal dims or a literal 1."""
    out = []
    for i in range(1, max(len(left), len(right)) + 1):
        a = left[-i] if i <= len(left) else Lit(1)
        b = right[-i] if i <= len(right) else Lit(1)
        if a == b or b == Lit(1):
            out.append(a)
        elif a == Lit(1):
            out.append(b)
        else:
            raise SpecError(
                f"shape mismatch in `{node.text}`: {render_shape(left)} {node.op} {render_shape(right)}: "
                f"{a!r} and {b!r} do not broadcast",
                text=node.text,
            )
    return tuple(reversed(out))


def matmul(left: Shape, right: Shape, node: BinOp) -> Shape:
    if len(right) != 2 or len(left) < 1:
        raise SpecError(
            f"shape mismatch in `{node.text}`: {render_shape(left)} @ {render_shape(right)}: "
            "the right operand of @ must be a matrix",
            text=node.text,
        )
    if left[-1] != right[0]:
        raise SpecError(
            f"shape mismatch in `{node.text}`: {render_shape(left)} @ {render_shape(right)}: "
            f"inner dimensions {left[-1]!r} and {right[0]!r} differ",
            text=node.text,
        )
    return left[:-1] + (right[1],)


class ShapeInference:
    """Infers shapes given the shapes of names; ``resolve_function`` maps attribute
    names that stand for activations (``recurrent_activation``) to a function."""

    def __init__(self, names: Mapping[str, Shape], resolve_function: Callable[[str], str]) -> None:
        self.names = names
        self.resolve_function = resolve_function

    def infer(self, node: Node) -> Shape:
        if isinstance(node, Name):
            try:
                return self.names[node.id]
            except KeyError:
                raise SpecError(f"undefined name {node.id!r}", text=node.id) from None
        if isinstance(node, Num):
            return ()
        if isinstance(node, Neg):
            return self.infer(node.operand)
        if isinstance(node, BinOp):
            left, right = self.infer(node.left), self.infer(node.right)
            if node.op == "@":
                return matmul(left, right, node)
            return broadcast(left, right, node)
        if isinstance(node, Call):
            function = FUNCTIONS.get(self.resolve_function(node.func))
            return infer_call(node, function, [self.infer(a) for a in node.args])
        raise SpecError(f"cannot infer the shape of {type(node).__name__}", text=getattr(node, "text", ""))

