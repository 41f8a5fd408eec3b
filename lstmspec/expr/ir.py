"""The expression IR: the few node types an equation can be made of.

Nodes are frozen dataclasses, so structurally equal sub-expressions compare
and hash equal (the reference uses this to fuse ``h @ U_i, h @ U_f, ...`` into
one product). ``text`` keeps the source segment for error messages and does
not take part in equality.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Node:
    def children(self) -> tuple["Node", ...]:
        return ()

    def walk(self) -> Iterator["Node"]:
        """Pre-order traversal of this node and everything under it."""
        yield self
        for child in self.children():
            yield from child.walk()

    def names(self) -> set[str]:
        return {n.id for n in self.walk() if isinstance(n, Name)}


@dataclass(frozen=True)
class Name(Node):
    id: str
    text: str = field(default="", compare=False, repr=False)


@dataclass(frozen=True)
class Num(Node):
    value: float
    text: str = field(default="", compare=False, repr=False)


@dataclass(frozen=True)
class BinOp(Node):
    """``+ - *`` are elementwise with broadcasting, ``@`` is a matrix product."""

    op: str
    left: Node
    right: Node
    text: str = field(default="", compare=False, repr=False)

    def children(self) -> tuple[Node, ...]:
        return (self.left, self.right)


@dataclass(frozen=True)
class Neg(Node):
    operand: Node
    text: str = field(default="", compare=False, repr=False)

    def children(self) -> tuple[Node, ...]:
        return (self.operand,)


@dataclass(frozen=True)
class Call(Node):
    """A call of a registered function; ``func`` may also be an attribute naming an activation.

    Keyword values are names or integers (``conv(h, U_i, padding=same, strides=1)``);
    they are options, never expressions.
    """

    func: str
    args: tuple[Node, ...]
    kwargs: tuple[tuple[str, str | int], ...] = ()
    text: str = field(default="", compare=False, repr=False)

    def children(self) -> tuple[Node, ...]:
        return self.args

    def option(self, key: str, default: str | int | None = None) -> str | int | None:
        for k, v in self.kwargs:
            if k == key:
                return v
        return default
