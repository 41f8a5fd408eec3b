"""What the catalogue of deviations needs to know about a spec, read from its equations.

Nothing here knows which layer a spec describes: a parameter is an *input
weight* because it multiplies (``@`` or ``conv``) something that reads the
input, a *recurrent weight* because it multiplies something that reads a
state, a *bias* because it is added as it is, a *peephole* because it is
multiplied elementwise with a cell state. So a deviation such as "gate order
i,o,f,g" applies to every spec whose gate equations have that structure.

Edited copies of a spec (an activation swapped, a peephole moved) are
``dataclasses.replace`` of the Spec with new equation nodes; they are cached
here with the spec's anatomy so that their compiled reference programs are
reused from one failing case to the next.
"""
from __future__ import annotations

import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from ..expr.functions import FUNCTIONS, conv_options
from ..expr.ir import BinOp, Call, Name, Neg, Node
from ..spec.model import Spec

#: Parameter roles the gate permutations move together.
GATE_ROLES = ("input", "recurrent", "bias")


@dataclass(frozen=True)
class Peephole:
    gate: str
    param: str
    reads: str  # the name multiplied with the parameter: a state (c) or a state's next equation (c_t)


@dataclass
class Anatomy:
    spec_ref: Callable[[], Spec | None]
    gates: tuple[str, ...]
    #: role ("input" | "recurrent" | "bias") -> gate -> parameter, for parameters inside gate equations
    roles: dict[str, dict[str, str]]
    peepholes: dict[str, Peephole]  # gate -> peephole
    #: gate -> the function its equation applies last, as written (an attribute name or a function)
    gate_activation: dict[str, str]
    cell_output: Call | None  # the activation applied to the new cell state in the output's equation
    output_equation: str | None
    output_state: str | None  # the state whose next value is the output (h)
    attribute_uses: dict[str, int]  # activation attribute -> number of calls through it
    input_convs: tuple[Call, ...]
    recurrent_convs: tuple[Call, ...]
    edited: dict[str, Spec] = field(default_factory=dict)

    # ------------------------------------------------------------ lookups
    @property
    def conv_kernels(self) -> dict[str, str]:
        """Convolution kernel parameters -> "input" | "recurrent"."""
        out = {}
        for role, calls in (("input", self.input_convs), ("recurrent", self.recurrent_convs)):
            for call in calls:
                out[call.args[1].id] = role  # type: ignore[union-attr]
        return out

    def activation_of(self, written: str, attrs: Mapping[str, Any]) -> str:
        """The function a call runs: its own name, or the value of the attribute it names."""
        return written if written in FUNCTIONS else str(attrs[written])

    def edit(self, spec: Spec, key: str, equations: Mapping[str, Node]) -> Spec:
        """``spec`` with some equations replaced (cached under ``key``)."""
        found = self.edited.get(key)
        if found is None:
            new = dict(spec.equations)
            for name, node in equations.items():
                new[name] = replace(spec.equations[name], node=node, text=f"{spec.equations[name].text} [{key}]")
            found = self.edited[key] = replace(spec, equations=new, order=_dependency_order(spec.order, new))
        return found


def _dependency_order(order: tuple[str, ...], equations: Mapping[str, Any]) -> tuple[str, ...]:
    """``order`` with each equation moved after the equations it reads (an edit such as i = 1 - f can
    make an equation read one written after it); the written order breaks ties."""
    out: list[str] = []

    def visit(name: str, path: frozenset[str]) -> None:
        if name in out:
            return
        if name in path:
            raise ValueError(f"the edited equations read each other in a cycle through {name}")
        for dep in sorted(equations[name].node.names() & set(equations) - {name}, key=order.index):
            visit(dep, path | {name})
        out.append(name)

    for name in order:
        visit(name, frozenset())
    return tuple(out)


def rewrite(node: Node, fn: Callable[[Node], Node | None]) -> Node:
    """``node`` with every sub-node for which ``fn`` returns a replacement replaced (top-down)."""
    new = fn(node)
    if new is not None:
        return new
    if isinstance(node, BinOp):
        return replace(node, left=rewrite(node.left, fn), right=rewrite(node.right, fn))
    if isinstance(node, Neg):
        return replace(node, operand=rewrite(node.operand, fn))
    if isinstance(node, Call):
        return replace(node, args=tuple(rewrite(a, fn) for a in node.args))
    return node


def swap_node(old: Node, new: Node) -> Callable[[Node], Node | None]:
    return lambda n: new if n == old else None


_CACHE: dict[int, Anatomy] = {}


def anatomy(spec: Spec) -> Anatomy:
    """The spec's anatomy, computed once per Spec object."""
    key = id(spec)
    found = _CACHE.get(key)
    if found is not None and found.spec_ref() is spec:
        return found
    found = _CACHE[key] = _read(spec)
    weakref.finalize(spec, _CACHE.pop, key, None)
    return found


def _read(spec: Spec) -> Anatomy:
    inputs, states = set(spec.inputs), set(spec.states)
    nexts = {d.next: s for s, d in spec.states.items() if d.next}

    def reads(node: Node, seen: frozenset[str] = frozenset()) -> set[str]:
        """Inputs and states a node depends on, through the equations it names."""
        out: set[str] = set()
        for name in node.names():
            if name in inputs or name in states:
                out.add(name)
            elif name in spec.equations and name not in seen:
                out |= reads(spec.equations[name].node, seen | {name})
        return out

    def role(left: Node) -> str | None:
        r = reads(left)
        if r & inputs:
            return "input"
        return "recurrent" if r & states else None

    roles: dict[str, dict[str, str]] = {r: {} for r in GATE_ROLES}
    peepholes: dict[str, Peephole] = {}
    input_convs: list[Call] = []
    recurrent_convs: list[Call] = []
    uses: dict[str, int] = {}
    for eq_name in spec.order:
        gate = eq_name if eq_name in spec.gates else None
        for n in spec.equations[eq_name].node.walk():
            if isinstance(n, Call):
                if n.func in spec.attributes:
                    uses[n.func] = uses.get(n.func, 0) + 1
                func = FUNCTIONS.get(n.func) if n.func in FUNCTIONS else None
                if func is not None and func.kind == "conv" and _is_param(n.args[1], spec):
                    r = role(n.args[0])
                    if r == "input":
                        input_convs.append(n)
                    elif r == "recurrent":
                        recurrent_convs.append(n)
                    if gate and r:
                        roles[r].setdefault(gate, n.args[1].id)  # type: ignore[union-attr]
            elif isinstance(n, BinOp) and gate:
                if n.op == "@" and _is_param(n.right, spec):
                    r = role(n.left)
                    if r:
                        roles[r].setdefault(gate, n.right.id)  # type: ignore[union-attr]
                elif n.op == "+":
                    for side in (n.left, n.right):
                        if _is_param(side, spec):
                            roles["bias"].setdefault(gate, side.id)  # type: ignore[union-attr]
                elif n.op == "*":
                    for p, other in ((n.left, n.right), (n.right, n.left)):
                        if _is_param(p, spec) and isinstance(other, Name) and (other.id in states or other.id in nexts):
                            peepholes[gate] = Peephole(gate, p.id, other.id)  # type: ignore[union-attr]
    gate_activation = {}
    for gate in spec.gates:
        top = spec.equations[gate].node
        if isinstance(top, Call) and _is_activation(top.func, spec):
            gate_activation[gate] = top.func
    out_decl = spec.first_output
    output_state = next((s for s, d in spec.states.items() if d.next == out_decl.step), None)
    cell_output = None
    if out_decl.step in spec.equations:
        for n in spec.equations[out_decl.step].node.walk():
            if isinstance(n, Call) and _is_activation(n.func, spec) and n.args[0].names() & (set(nexts) - {out_decl.step}):
                cell_output = n
                break
    return Anatomy(
        spec_ref=weakref.ref(spec),
        gates=tuple(spec.gates),
        roles={r: g for r, g in roles.items() if g},
        peepholes=peepholes,
        gate_activation=gate_activation,
        cell_output=cell_output,
        output_equation=out_decl.step,
        output_state=output_state,
        attribute_uses={a: n for a, n in uses.items() if spec.attributes[a].type == "activation"},
        input_convs=tuple(input_convs),
        recurrent_convs=tuple(recurrent_convs),
    )


def _is_param(node: Node, spec: Spec) -> bool:
    return isinstance(node, Name) and node.id in spec.params


def _is_activation(func: str, spec: Spec) -> bool:
    if func in spec.attributes:
        return spec.attributes[func].type == "activation"
    return func in FUNCTIONS and FUNCTIONS.get(func).kind == "activation"


def conv_setting(call: Call, kernel_shape: tuple[int, ...], attrs: Mapping[str, Any]) -> list[tuple[str, int, int, int]]:
    """(padding, stride, dilation, kernel size) of each spatial axis of a conv call."""
    options = conv_options(call)
    n = len(kernel_shape) - 2
    return [options.resolve(a, attrs) + (kernel_shape[a],) for a in range(n)]


__all__ = ["Anatomy", "Peephole", "anatomy", "rewrite", "swap_node", "conv_setting", "GATE_ROLES"]
