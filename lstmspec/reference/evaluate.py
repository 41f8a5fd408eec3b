"""A plain tree-walking evaluator of the IR: one step (or one cell) at a time, no rewrites.

The compiled program (``program.py``, ``grid.py``) is what the reference
runs; this is the slow, obvious evaluation that a reader can follow by eye.
It is what ``lstmspec trace`` prints and what the tests compare the
wavefront against (a per-pixel loop), so each node's meaning is written
twice on purpose: once fast, once plain.

    >>> values = step_values(spec, attrs, {"x": x_t, "h": h, "c": c, **params}, get_backend("numpy"))
    >>> values["i"]  # the input gate at this step
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ..expr.functions import FUNCTIONS, conv_options
from ..expr.ir import BinOp, Call, Name, Neg, Node, Num
from ..expr.masks import resolve_mask
from ..spec.model import Spec
from .backends import Backend


def evaluate(node: Node, env: Mapping[str, Any], attrs: Mapping[str, Any], be: Backend) -> Any:
    """The value of ``node`` with the names in ``env`` (arrays of ``be``)."""
    handler = _HANDLERS.get(type(node))
    if handler is None:  # the parser allows nothing else
        raise TypeError(f"cannot evaluate {type(node).__name__}")
    return handler(node, env, attrs, be)


def _name(node: Name, env: Mapping[str, Any], attrs: Mapping[str, Any], be: Backend) -> Any:
    return env[node.id]


def _num(node: Num, env: Mapping[str, Any], attrs: Mapping[str, Any], be: Backend) -> Any:
    return node.value


def _neg(node: Neg, env: Mapping[str, Any], attrs: Mapping[str, Any], be: Backend) -> Any:
    return -evaluate(node.operand, env, attrs, be)


def _binop(node: BinOp, env: Mapping[str, Any], attrs: Mapping[str, Any], be: Backend) -> Any:
    a, b = evaluate(node.left, env, attrs, be), evaluate(node.right, env, attrs, be)
    return {"+": lambda: a + b, "-": lambda: a - b, "*": lambda: a * b, "@": lambda: a @ b}[node.op]()


def _call(node: Call, env: Mapping[str, Any], attrs: Mapping[str, Any], be: Backend) -> Any:
    func = str(attrs[node.func]) if node.func in attrs else node.func
    function = FUNCTIONS.get(func)
    args = [evaluate(a, env, attrs, be) for a in node.args]
    if function.kind == "activation":
        return be.activation(func)(args[0])
    if function.kind == "concat":
        return be.concat(args)
    return conv_with_options(be, attrs, conv_options(node))(args[0], args[1])


def conv_with_options(be: Backend, attrs: Mapping[str, Any], options: Any) -> Callable[[Any, Any], Any]:
    """``conv(x, w)`` with a call's options resolved against the attributes, the kernel masked if asked
    (``lstmspec.expr.masks``: PixelRNN's masks A and B, with colour groups)."""

    def conv(x: Any, w: Any) -> Any:
        n = w.ndim - 2
        resolved = [options.resolve(axis, attrs) for axis in range(n)]
        mask = resolve_mask(options, attrs, tuple(int(d) for d in w.shape))
        if mask is not None:
            w = w * be.asarray(mask)
        return be.conv(x, w, resolved[0][0], [r[1] for r in resolved], [r[2] for r in resolved])

    return conv


_HANDLERS: dict[type, Callable[..., Any]] = {Name: _name, Num: _num, Neg: _neg, BinOp: _binop, Call: _call}


def step_values(spec: Spec, attrs: Mapping[str, Any], env: Mapping[str, Any], be: Backend) -> dict[str, Any]:
    """Every equation of one step, in dependency order, from the names in ``env``."""
    scope = dict(env)
    for attr in spec.attributes.values():
        if attr.type == "float":
            scope[attr.name] = attrs[attr.name]
    out: dict[str, Any] = {}
    for name in spec.order:
        scope[name] = out[name] = evaluate(spec.equations[name].node, scope, attrs, be)
    return out
