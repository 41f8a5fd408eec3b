"""Parse an equation string into the IR with Python's ``ast``, through an allow-list.

The text is parsed, never evaluated: each ``ast`` node type that is allowed
has a handler in ``_HANDLERS``; any other node (attribute access, subscripts,
lambdas, comprehensions, strings, ...) is rejected with a SpecError quoting the
offending text. This is an allow-list, not a deny-list around ``eval``.

Two things are refused before Python's parser sees the text. Non-ASCII
characters: Python folds look-alikes (NFKC) into ASCII, so ``Ｗ_i`` would
silently be read as ``W_i``. And nesting deeper than ``MAX_DEPTH``: every
stage after the parser (shape inference, the reference, typesetting) walks
the expression tree recursively, so a sum of a thousand terms is refused here
with one message rather than failing later with Python's recursion limit.
"""
from __future__ import annotations

import ast
import re
import unicodedata
from collections.abc import Callable, Container

from ..errors import SpecError
from .ir import BinOp, Call, Name, Neg, Node, Num

MAX_DEPTH = 100  # nested operations in one expression: a flat sum of up to 101 terms

_BINOPS: dict[type, str] = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.MatMult: "@"}

# What users most often write instead, and the hint we give back.
_FORBIDDEN_HINTS: dict[type, str] = {
    ast.Attribute: "attribute access is not allowed",
    ast.Subscript: "subscripts are not allowed (declare a name for the quantity instead)",
    ast.Lambda: "lambdas are not allowed",
    ast.ListComp: "comprehensions are not allowed",
    ast.GeneratorExp: "comprehensions are not allowed",
    ast.SetComp: "comprehensions are not allowed",
    ast.DictComp: "comprehensions are not allowed",
    ast.Div: "division is not allowed",
    ast.Pow: "powers are not allowed",
    ast.Compare: "comparisons are not allowed",
    ast.IfExp: "conditional expressions are not allowed",
    ast.NamedExpr: "assignment expressions are not allowed",
}


class _Parser:
    def __init__(self, source: str, functions: Container[str]) -> None:
        self.source = source
        self.functions = functions

    def fail(self, node: ast.AST, message: str) -> SpecError:
        text = ast.get_source_segment(self.source, node) or self.source
        return SpecError(message, text=text)

    def segment(self, node: ast.AST) -> str:
        return ast.get_source_segment(self.source, node) or ""

    def visit(self, node: ast.AST) -> Node:
        handler = _HANDLERS.get(type(node))
        if handler is None:
            hint = _FORBIDDEN_HINTS.get(type(node))
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                hint = "strings are not allowed"
            if isinstance(node, ast.BinOp) and type(node.op) in _FORBIDDEN_HINTS:
                hint = _FORBIDDEN_HINTS[type(node.op)]
            raise self.fail(node, hint or f"{type(node).__name__} is not allowed in an equation")
        return handler(self, node)

    def expression(self, node: ast.Expression) -> Node:
        return self.visit(node.body)

    def name(self, node: ast.Name) -> Node:
        if node.id.startswith("__") or node.id.endswith("__"):
            raise self.fail(node, "dunder names are not allowed")
        return Name(node.id, text=node.id)

    def constant(self, node: ast.Constant) -> Node:
        value = node.value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            kind = "strings" if isinstance(value, str) else f"{type(value).__name__} constants"
            raise self.fail(node, f"{kind} are not allowed")
        return Num(float(value), text=self.segment(node))

    def binop(self, node: ast.BinOp) -> Node:
        op = _BINOPS.get(type(node.op))
        if op is None:
            hint = _FORBIDDEN_HINTS.get(type(node.op), f"operator {type(node.op).__name__} is not allowed")
            raise self.fail(node, hint)
        return BinOp(op, self.visit(node.left), self.visit(node.right), text=self.segment(node))

    def unaryop(self, node: ast.UnaryOp) -> Node:
        if isinstance(node.op, ast.USub):
            return Neg(self.visit(node.operand), text=self.segment(node))
        if isinstance(node.op, ast.UAdd):
            return self.visit(node.operand)
        raise self.fail(node, f"unary {type(node.op).__name__} is not allowed")

    def call(self, node: ast.Call) -> Node:
        if not isinstance(node.func, ast.Name):
            raise self.fail(node.func, "only plain function names can be called")
        func = node.func.id
        if func.startswith("__") or func not in self.functions:
            raise self.fail(node.func, f"unknown function {func!r}")
        if any(isinstance(a, ast.Starred) for a in node.args):
            raise self.fail(node, "starred arguments are not allowed")
        kwargs: list[tuple[str, str | int]] = []
        for kw in node.keywords:
            if kw.arg is None:
                raise self.fail(node, "**kwargs are not allowed")
            value = kw.value
            if isinstance(value, ast.Name) and not value.id.startswith("__"):
                kwargs.append((kw.arg, value.id))
            elif isinstance(value, ast.Constant) and type(value.value) is int:
                kwargs.append((kw.arg, value.value))
            else:
                raise self.fail(value, f"option {kw.arg}= takes a name or an integer")
        args = tuple(self.visit(a) for a in node.args)
        return Call(func, args, tuple(kwargs), text=self.segment(node))


_HANDLERS: dict[type, Callable[[_Parser, ast.AST], Node]] = {
    ast.Expression: _Parser.expression,
    ast.Name: _Parser.name,
    ast.Constant: _Parser.constant,
    ast.BinOp: _Parser.binop,
    ast.UnaryOp: _Parser.unaryop,
    ast.Call: _Parser.call,
}


def parse_tree(source: str, *, what: str = "expression") -> ast.Expression:
    """Python's syntax tree of ``source`` once the text is ASCII and nests at most ``MAX_DEPTH`` deep.

    Raises SpecError (without location); ``what`` names the text in messages ("formula").
    """
    _refuse_non_ascii(source)
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError as exc:
        raise SpecError(f"not a valid {what} ({exc.msg})", text=source) from None
    except (RecursionError, MemoryError):  # Python's own parser gives up on very deep nesting
        raise SpecError(f"the {what} nests too deeply to parse; at most {MAX_DEPTH} nested operations are "
                        "allowed (split it into named equations)") from None
    depth = _depth(tree)
    if depth > MAX_DEPTH:
        raise SpecError(f"the {what} nests {depth} operations deep; at most {MAX_DEPTH} are allowed "
                        f"(a sum of at most {MAX_DEPTH + 1} terms): split it into named equations")
    return tree


def _depth(tree: ast.AST) -> int:
    """Nesting depth of the operations (names and numbers are not one), counted with a stack (a recursive walk would hit the limit it checks)."""
    deepest = 0
    stack = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        depth += isinstance(node, ast.expr) and not isinstance(node, (ast.Name, ast.Constant))
        deepest = max(deepest, depth)
        stack.extend((child, depth) for child in ast.iter_child_nodes(node))
    return deepest


_LOOKALIKES = {"\u2212": "-", "\u2013": "-", "\u00d7": "*", "\u00b7": "*", "\u22c5": "*", "\u2217": "*"}


def _refuse_non_ascii(source: str) -> None:
    """One message for the first non-ASCII character, with the ASCII it looks like."""
    for match in re.finditer(r"[^\x00-\x7f]", source):
        char = match.group()
        name = unicodedata.name(char, f"U+{ord(char):04X}")
        word = next((w.group() for w in re.finditer(r"\w+", source) if w.start() <= match.start() < w.end()), None)
        if word is not None:
            kind = "letter" if char.isalpha() else "character"
            guess = unicodedata.normalize("NFKC", word)
            hint = f"; did you mean {guess!r}?" if guess.isascii() and guess.isidentifier() else ""
            raise SpecError(f"non-ASCII {kind} {char!r} ({name}) in identifier{hint}")
        guess = _LOOKALIKES.get(char, unicodedata.normalize("NFKC", char))
        hint = f"; did you mean {guess!r}?" if guess.isascii() and guess.strip() else ""
        raise SpecError(f"non-ASCII character {char!r} ({name}); equations are written in ASCII{hint}")


def parse_expression(source: str, *, functions: Container[str]) -> Node:
    """Parse one equation right-hand side. Raises SpecError (without location; the caller adds it)."""
    if not isinstance(source, str):
        raise SpecError(f"an equation must be a string, got {type(source).__name__}", text=repr(source))
    if not source.strip():
        raise SpecError("empty equation", text=source)
    return _Parser(source.strip(), functions).visit(parse_tree(source.strip()))
