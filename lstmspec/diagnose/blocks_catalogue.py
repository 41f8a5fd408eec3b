"""Known deviations of the parameter blocks: gate blocks read in another gate order (named by the spec's
framework layouts when the permutation is one layout's order read as another's), and peepholes left out,
misplaced or read in another order.

Gates, peepholes and layouts are read from the spec (``anatomy``, ``[layouts.*]``): a spec declaring the
gates o, f, i, g gets the orders of its own gates, and "weights in onnx gate order (i, o, f, g) read in
keras/torch order (i, f, g, o)" is said only where both layouts are the spec's.
"""
from __future__ import annotations

from itertools import permutations
from typing import Any

import numpy as np

from ..expr.ir import Name
from ..spec.model import Spec
from .anatomy import anatomy, rewrite, swap_node
from .variant import Inputs, Result, per_spec, register

#: Gate-order permutations are tried for specs with at most this many gates (4! = 24 orders; 5 gates would be 120).
MAX_PERMUTED_GATES = 4


# ------------------------------------------------------------------ gate order
def _gate_blocks_apply(inp: Inputs, order: tuple[str, ...]) -> bool:
    """The spec has these gates, and each role (W, U, b) has one same-shaped parameter per gate."""
    a = inp.anatomy
    if set(a.gates) != set(order) or a.gates == order or not a.roles:
        return False
    for by_gate in a.roles.values():
        if set(by_gate) != set(a.gates) or len({inp.params[p].shape for p in by_gate.values()}) != 1:
            return False
    return True


def _permute_gates(inp: Inputs, order: tuple[str, ...]) -> Result:
    # Block k of the spec's order (a.gates) drives gate order[k]: what a kernel
    # reading concatenated weights in its own gate order computes.
    a = inp.anatomy
    params = {by_gate[gate]: inp.params[by_gate[block]]
              for by_gate in a.roles.values() for block, gate in zip(a.gates, order)}
    return inp.but(params=params).reference()


def _layout_orders(inp: Inputs) -> dict[tuple[str, ...], list[str]]:
    """Gate order -> the spec's layouts that stack the gate blocks in that order (read from each layout's
    first tensor holding one parameter per gate), the spec's own order included."""
    a = inp.anatomy
    gate_of = {p: g for by_gate in a.roles.values() for g, p in by_gate.items()}
    out: dict[tuple[str, ...], list[str]] = {}
    for name in inp.spec.layouts:
        for tensor in inp.spec.layout(name).tensors:
            gates = tuple(gate_of.get(seg.param) for seg in tensor.segments)
            if len(gates) == len(a.gates) and set(gates) == set(a.gates):
                out.setdefault(gates, []).append(name)  # type: ignore[arg-type]
                break
    return out


def _label(layouts: list[str]) -> str:
    """Layout names as one label, variants of one framework once: keras, torch, torch_cell -> keras/torch."""
    families = list(dict.fromkeys(n.split("_")[0] for n in layouts))
    return "/".join(families)


def _layout_story(inp: Inputs, order: tuple[str, ...]) -> str:
    """'weights in onnx gate order (i, o, f, g) read in keras/torch order (i, f, g, o)' when reading blocks
    stacked in one known order as if they were in another is exactly this permutation, else ''.

    Blocks stored in order A and read as order B: the parameters of gate A[k] drive gate B[k]; as a
    permutation of the spec's order (``order``: the spec's gate j's parameters drive gate order[j]).
    """
    canon = inp.anatomy.gates
    orders = _layout_orders(inp)
    labels = {o: _label(names) for o, names in orders.items()}
    labels.setdefault(canon, "the spec's")
    for stored, read in permutations(labels, 2):
        drives = dict(zip(stored, read))
        if tuple(drives[g] for g in canon) == order:
            return (f"weights in {labels[stored]} gate order ({', '.join(stored)}) read in {labels[read]} order "
                    f"({', '.join(read)})")
    return ""


def _gate_order_note(inp: Inputs, order: tuple[str, ...]) -> str:
    story, moved = _layout_story(inp, order), _moved(inp.anatomy.gates, order, "parameters")
    return f"{story}: {moved}" if story else moved


def _moved(canon: tuple[str, ...], order: tuple[str, ...], what: str) -> str:
    moved = [(b, g) for b, g in zip(canon, order) if b != g]
    return (f"the spec's {', '.join(b for b, _ in moved)} {what} drive gates {', '.join(g for _, g in moved)}")


@per_spec
def _gate_order_entries(spec: Spec):
    gates = tuple(spec.gates)
    for order in permutations(gates) if 1 < len(gates) <= MAX_PERMUTED_GATES else ():
        if order == gates:
            continue  # the spec's own order
        yield (f"gate order {','.join(order)}", "gate order", 20,
               "The implementation reads the parameter blocks, laid out in the spec's gate order, as if they were "
               "in this order: block k drives gate order[k] (a kernel written for ONNX's i,o,f,g given "
               "Keras/PyTorch-ordered weights is 'gate order i,o,f,g').",
               lambda inp, o=order: _gate_blocks_apply(inp, o),
               lambda inp, o=order: _permute_gates(inp, o),
               lambda inp, o=order: _gate_order_note(inp, o))


# ------------------------------------------------------------------ peepholes
def _peephole_gates(inp: Inputs) -> tuple[str, ...]:
    a = inp.anatomy
    return tuple(g for g in a.gates if g in a.peepholes)


def _permute_peepholes(inp: Inputs, order: tuple[str, ...]) -> Result:
    a, canon = inp.anatomy, _peephole_gates(inp)
    params = {a.peepholes[gate].param: inp.params[a.peepholes[block].param] for block, gate in zip(canon, order)}
    return inp.but(params=params).reference()


def _peephole_on_new_cell(inp: Inputs) -> Any:
    """The one peephole that reads a state's new value (ONNX's output gate on c_t), or None."""
    found = [p for p in inp.anatomy.peepholes.values() if p.reads not in inp.spec.states]
    return found[0] if len(found) == 1 else None


def _output_peephole_on_previous(inp: Inputs) -> Result:
    a = inp.anatomy
    peep = _peephole_on_new_cell(inp)
    state = next(s for s, d in inp.spec.states.items() if d.next == peep.reads)
    node = rewrite(inp.spec.equations[peep.gate].node, swap_node(Name(peep.reads), Name(state)))
    return inp.reference(a.edit(inp.spec, "output-gate peephole on the previous cell state", {peep.gate: node}))


register("no peepholes", "peephole", 80, "The peephole terms are left out (every peephole weight zero).",
         lambda inp: bool(inp.anatomy.peepholes),
         lambda inp: inp.but(params={p.param: np.zeros_like(inp.params[p.param])
                                     for p in inp.anatomy.peepholes.values()}).reference())
register("output-gate peephole on c_{t-1} instead of c_t", "peephole", 81,
         "The output gate's peephole looks at the previous cell state, like the input and forget gates, "
         "instead of the new one.",
         lambda inp: _peephole_on_new_cell(inp) is not None, _output_peephole_on_previous)


@per_spec
def _peephole_entries(spec: Spec):
    a = anatomy(spec)
    peeped = tuple(g for g in a.gates if g in a.peepholes)
    for gate in peeped if len(peeped) > 1 else ():
        yield (f"no peephole on gate {gate}", "peephole", 81, f"Gate {gate} leaves out its peephole term.",
               lambda inp, g=gate: g in inp.anatomy.peepholes and len(inp.anatomy.peepholes) > 1,
               lambda inp, g=gate: inp.but(params={inp.anatomy.peepholes[g].param:
                                                   np.zeros_like(inp.params[inp.anatomy.peepholes[g].param])}).reference())
    for order in list(permutations(peeped))[1:] if 1 < len(peeped) <= MAX_PERMUTED_GATES else ():
        yield (f"peephole order {','.join(order)}", "peephole", 82,
               "The peephole weights, laid out in the spec's gate order, are read in this order (ONNX stores P as "
               "i,o,f).",
               lambda inp, o=order, p=peeped: _peephole_gates(inp) == p,
               lambda inp, o=order: _permute_peepholes(inp, o),
               lambda inp, o=order: _moved(_peephole_gates(inp), o, "peepholes"))
