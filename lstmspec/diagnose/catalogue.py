"""The catalogue of known deviations of the recurrence itself: states, activations, biases, time,
weights, cell structure and precision (gate order and peepholes: ``blocks_catalogue``; convolutions:
``conv_catalogue``; grids: ``grid_catalogue``; input transforms: ``transform_catalogue``).

Gates, states and the forget, input and cell-state roles are read from the spec (its ``[gates]``,
``[states]`` and equations), never assumed to be i, f, g, o and h, c: entries whose names spell a
spec's own names ("initial h ignored") are made per spec (``per_spec``). Every entry is registered
once, in the order of its family's rank; the
engine tries low ranks first (cheap parameter edits that are common porting
bugs before step-by-step re-runs). Names are written to complete
"matches <spec> with ...".
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..check.precision import MANTISSA
from ..expr.ir import BinOp, Call, Name, Num
from ..spec.model import Spec
from .anatomy import anatomy, rewrite, swap_node
from .variant import Inputs, Result, per_spec, register, stepwise

#: Activations tried as replacements (relu is left out: no LSTM implementation uses it by mistake).
SWAPS = ("sigmoid", "tanh", "hard_sigmoid", "hard_sigmoid_keras2", "linear")


def _sequence_states(spec: Spec) -> tuple[str, ...]:
    """The states a sequence spec's kernel is given and returns (a grid's are its boundaries)."""
    return () if spec.is_grid else tuple(spec.states)


# ------------------------------------------------------------------ state
def _nonzero_state(inp: Inputs, *names: str) -> bool:
    names = names or tuple(inp.state)
    return all(n in inp.state for n in names) and any(np.any(inp.state[n] != 0) for n in names)


def _zero_state(inp: Inputs, *names: str) -> Result:
    names = names or tuple(inp.state)
    return inp.but(state={n: np.zeros_like(inp.state[n]) for n in names}).reference()


def _two_states(inp: Inputs, a: str, b: str) -> bool:
    return set(inp.state) == {a, b} and inp.state[a].shape == inp.state[b].shape


def _final_swapped(inp: Inputs, a: str, b: str) -> Result:
    y, final = inp.reference()
    return y, {a: final[b], b: final[a]}


register("initial state ignored (zeros used)", "state", 10,
         "The initial states are not passed on (or not read): the recurrence starts from zeros.",
         _nonzero_state, _zero_state)


@per_spec
def _state_entries(spec: Spec):
    states = _sequence_states(spec)
    for s in states if len(states) > 1 else ():
        yield (f"initial {s} ignored (zeros used)", "state", 11,
               f"Only the initial {s} is dropped, e.g. a kernel that passes h0 but not c0.",
               lambda inp, s=s: len(inp.state) > 1 and _nonzero_state(inp, s),
               lambda inp, s=s: _zero_state(inp, s))
    if len(states) == 2:
        # the output's state first (h, c), whatever order the spec declares them in: one name per deviation
        a, b = sorted(states, key=lambda s: s != anatomy(spec).output_state)
        yield (f"initial {a} and {b} swapped", "state", 12,
               f"The initial state is passed as ({b}0, {a}0) instead of ({a}0, {b}0).",
               lambda inp: _two_states(inp, a, b), lambda inp: inp.but(state={a: inp.state[b], b: inp.state[a]}).reference())
        yield (f"final {a} and {b} swapped", "state", 12,
               f"The final state is returned as ({b}_T, {a}_T) instead of ({a}_T, {b}_T).",
               lambda inp: _two_states(inp, a, b), lambda inp: _final_swapped(inp, a, b))


# ------------------------------------------------------------------ activations
def _attribute_applies(inp: Inputs, attr: str, act: str) -> bool:
    # An attribute used by one call only is that call's swap, named by the call.
    return inp.anatomy.attribute_uses.get(attr, 0) >= 2 and inp.attrs[attr] != act


def _gate_applies(inp: Inputs, gate: str, act: str) -> bool:
    a = inp.anatomy
    return gate in a.gate_activation and a.activation_of(a.gate_activation[gate], inp.attrs) != act


def _gate_swapped(inp: Inputs, gate: str, act: str) -> Result:
    top = inp.spec.equations[gate].node
    assert isinstance(top, Call)
    spec = inp.anatomy.edit(inp.spec, f"gate {gate} activation={act}", {gate: Call(act, top.args, top.kwargs, top.text)})
    return inp.reference(spec)


def _cell_output_applies(inp: Inputs, act: str) -> bool:
    a = inp.anatomy
    return a.cell_output is not None and a.activation_of(a.cell_output.func, inp.attrs) != act


def _cell_output_swapped(inp: Inputs, act: str) -> Result:
    a = inp.anatomy
    old = a.cell_output
    assert old is not None and a.output_equation is not None
    node = rewrite(inp.spec.equations[a.output_equation].node, swap_node(old, Call(act, old.args, old.kwargs, old.text)))
    return inp.reference(a.edit(inp.spec, f"cell output activation={act}", {a.output_equation: node}))


for _attr in ("recurrent_activation", "activation"):
    for _act in SWAPS:
        register(f"{_attr}={_act}", "activation", 30,
                 f"Every call through the attribute {_attr} runs {_act} (the attribute ignored or mistranslated).",
                 lambda inp, at=_attr, ac=_act: _attribute_applies(inp, at, ac),
                 lambda inp, at=_attr, ac=_act: inp.but(attrs={at: ac}).reference())
def _attributes_swap(inp: Inputs, a: str, b: str) -> bool:
    uses = inp.anatomy.attribute_uses
    return a in uses and b in uses and inp.attrs[a] != inp.attrs[b]


register("activation and recurrent_activation swapped", "activation", 31,
         "The two activation attributes are read the wrong way round: the gates run the cell's activation and "
         "the candidate and cell output the gates' one.",
         lambda inp: _attributes_swap(inp, "activation", "recurrent_activation"),
         lambda inp: inp.but(attrs={"activation": inp.attrs["recurrent_activation"],
                                    "recurrent_activation": inp.attrs["activation"]}).reference())
@per_spec
def _gate_activation_entries(spec: Spec):
    written = anatomy(spec).gate_activation
    for gate in spec.gates:
        # a gate whose equation names a function (not an attribute) can only be swapped to another one
        for act in SWAPS if gate in written else ():
            if act == written[gate]:
                continue
            yield (f"gate {gate} activation={act}", "gate activation", 85,
                   f"Gate {gate} alone runs {act} instead of the activation its equation names.",
                   lambda inp, g=gate, ac=act: _gate_applies(inp, g, ac),
                   lambda inp, g=gate, ac=act: _gate_swapped(inp, g, ac))


for _act in SWAPS:
    register(f"cell output activation={_act}", "gate activation", 86,
             f"The activation applied to the new cell state in the output's equation is {_act}.",
             lambda inp, ac=_act: _cell_output_applies(inp, ac),
             lambda inp, ac=_act: _cell_output_swapped(inp, ac))


# ------------------------------------------------------------------ biases
def _biases(inp: Inputs) -> dict[str, str]:
    return inp.anatomy.roles.get("bias", {})


def _forget_bias(inp: Inputs) -> str | None:
    """The bias of the forget gate (read from the equations: the gate that scales the previous cell state)."""
    gates = _cell_gates(inp)
    return _biases(inp).get(gates[0]) if gates is not None else None


register("forget-gate bias +1", "bias", 40,
         "1 is added to the forget gate's bias (TensorFlow 1's LSTMCell forget_bias=1.0, Keras unit_forget_bias "
         "applied at run time).",
         lambda inp: _forget_bias(inp) is not None,
         lambda inp: inp.but(params={_forget_bias(inp): inp.params[_forget_bias(inp)] + 1.0}).reference())
register("every bias applied twice", "bias", 41,
         "Each gate's bias is added twice (e.g. PyTorch's bias_ih and bias_hh both given the full bias).",
         lambda inp: bool(_biases(inp)),
         lambda inp: inp.but(params={p: 2.0 * inp.params[p] for p in _biases(inp).values()}).reference())
register("no bias", "bias", 42, "No gate adds its bias.",
         lambda inp: bool(_biases(inp)),
         lambda inp: inp.but(params={p: np.zeros_like(inp.params[p]) for p in _biases(inp).values()}).reference())
@per_spec
def _gate_bias_entries(spec: Spec):
    for gate in spec.gates:
        yield (f"no bias on gate {gate}", "bias", 43, f"Gate {gate} does not add its bias.",
               lambda inp, g=gate: g in _biases(inp),
               lambda inp, g=gate: inp.but(params={_biases(inp)[g]: np.zeros_like(inp.params[_biases(inp)[g]])}).reference())


def _split_layout(inp: Inputs) -> Any:
    """The first of the spec's layouts that stores every bias it splits as two summed tensors (PyTorch's
    bias_ih + bias_hh), when one tensor holds each part: what a kernel given that layout can drop."""
    if inp.rng is None:
        return None
    biases = set(_biases(inp).values())
    for name in inp.spec.layouts:
        layout = inp.spec.layout(name)
        parts = layout.parts()
        if parts and set(parts) <= biases and set(parts.values()) == {2} and all(_part_tensors(layout, k) for k in (0, 1)):
            return layout
    return None


def _part_tensors(layout: Any, part: int) -> list[str]:
    return [t.name for t in layout.tensors if t.segments and all(s.part == part for s in t.segments)]


def _bias_part_dropped(inp: Inputs, part: int) -> Result:
    # The checker gives a layout's kernel the biases split at random (Layout.to_framework with the case's
    # "bias split" generator, so that dropping one summand shows); redo that split, zero one part's
    # tensors, and sum back: the canonical biases such a kernel computed with.
    layout = _split_layout(inp)
    assert inp.rng is not None
    tensors = layout.to_framework(inp.params, inp.rng("bias split"))
    for name in _part_tensors(layout, part):
        tensors[name] = np.zeros_like(tensors[name])
    back = layout.from_framework(tensors, {k: np.shape(v) for k, v in inp.params.items()})
    return inp.but(params={p: back[p] for p in layout.parts()}).reference()


def _part_note(inp: Inputs, part: int) -> str:
    layout = _split_layout(inp)
    return f"layout {layout.name}: {', '.join(_part_tensors(layout, part))} missing" if layout is not None else ""


for _part, _which, _example in ((1, "second", "bias_hh"), (0, "first", "bias_ih")):
    register(f"{_which} of the two summed bias tensors dropped", "bias", 44,
             f"The bias is stored as two summed tensors (e.g. PyTorch's bias_ih + bias_hh) and the kernel adds only "
             f"one: the {_which} ({_example}) is dropped when the weights are ported.",
             lambda inp: _split_layout(inp) is not None,
             lambda inp, k=_part: _bias_part_dropped(inp, k),
             note=lambda inp, k=_part: _part_note(inp, k))


# ------------------------------------------------------------------ time
def _flip_time(y: np.ndarray, inp: Inputs) -> np.ndarray:
    return np.flip(y, inp.out_time_axis)


def _input_reversed(inp: Inputs, aligned: bool) -> Result:
    y, final = inp.but(x=np.flip(inp.x, inp.time_axis)).reference()
    return (_flip_time(y, inp) if aligned else y), final


def _outputs_reversed(inp: Inputs) -> Result:
    y, final = inp.reference()
    return _flip_time(y, inp), final


def _shifted(inp: Inputs, lag: bool) -> Result:
    """Outputs moved one step along the processing order, the gap filled with h0 (lag) or zeros (lead)."""
    y, final = inp.reference()
    ty = inp.out_time_axis
    y = _flip_time(y, inp) if inp.reversed else y
    steps = y.shape[ty]
    if lag:
        fill = np.expand_dims(inp.state[inp.anatomy.output_state], ty)  # type: ignore[index]
        y = np.concatenate([fill, np.take(y, range(steps - 1), axis=ty)], axis=ty)
    else:
        last = np.zeros_like(np.take(y, [0], axis=ty))
        y = np.concatenate([np.take(y, range(1, steps), axis=ty), last], axis=ty)
    return (_flip_time(y, inp) if inp.reversed else y), final


def _steps(inp: Inputs) -> int:
    return inp.x.shape[inp.time_axis]


register("input reversed in time (outputs in processing order)", "time", 50,
         "The sequence is processed from its last step; y[t] is the output of the t-th step processed.",
         lambda inp: _steps(inp) > 1, lambda inp: _input_reversed(inp, aligned=False))
register("input reversed in time (outputs aligned with the input)", "time", 50,
         "The sequence is processed from its last step; y[t] is the output computed at input position t.",
         lambda inp: _steps(inp) > 1, lambda inp: _input_reversed(inp, aligned=True))
register("outputs in reversed time order", "time", 51,
         "The right recurrence, but y is returned last step first (a reverse direction not re-aligned, or the "
         "reverse).",
         lambda inp: _steps(inp) > 1, lambda inp: _outputs_reversed(inp))
def _last_output_repeated(inp: Inputs) -> Result:
    y, final = inp.reference()
    ty = inp.out_time_axis
    last = np.take(y, [0 if inp.reversed else y.shape[ty] - 1], axis=ty)  # the output computed last
    return np.broadcast_to(last, y.shape).copy(), final


def _final_from_last_position(inp: Inputs) -> Result:
    y, final = inp.reference()
    ty = inp.out_time_axis
    return y, {**final, inp.anatomy.output_state: np.take(y, y.shape[ty] - 1, axis=ty)}  # type: ignore[dict-item]


def _batch_time_reshaped(inp: Inputs) -> Result:
    x = inp.x
    return inp.but(x=x.reshape((x.shape[1], x.shape[0]) + x.shape[2:]).swapaxes(0, 1)).reference()


register("last output repeated at every step", "time", 53,
         "return_sequences mishandled: the output computed last (h_T) is broadcast over every timestep.",
         lambda inp: _steps(inp) > 1 and inp.anatomy.output_state is not None, _last_output_repeated)
register("final h taken from the output at the last input position", "time", 53,
         "h_T read as y[:, -1]: right going forward, but in a reversed recurrence that is the first step processed.",
         lambda inp: inp.reversed and _steps(inp) > 1 and inp.anatomy.output_state is not None,
         _final_from_last_position)
register("batch and time mixed up by a reshape (time-major reshape instead of transpose)", "time", 55,
         "(batch, time, ...) made time-major with reshape(time, batch, ...) and transposed back: each sequence "
         "gets frames of the others.",
         lambda inp: inp.time_axis == 1 and inp.x.shape[0] > 1 and _steps(inp) > 1, _batch_time_reshaped)
register("outputs lagging one step (y[t] = h_{t-1}, y[0] = h0)", "time", 52,
         "Each step's output is the state before the step (written before it is updated).",
         lambda inp: inp.anatomy.output_state in inp.state, lambda inp: _shifted(inp, lag=True))
register("outputs leading one step (y[t] = h_{t+1}, last step zero)", "time", 52,
         "Each step's output is written one slot early; the last slot keeps its zero initialization.",
         lambda inp: inp.anatomy.output_state in inp.state, lambda inp: _shifted(inp, lag=False))


# ------------------------------------------------------------------ weights
def _weights(inp: Inputs, role: str) -> list[str]:
    return list(inp.anatomy.roles.get(role, {}).values())


def _square(inp: Inputs, role: str) -> bool:
    names = _weights(inp, role)
    return bool(names) and all(inp.params[p].ndim >= 2 and inp.params[p].shape[-1] == inp.params[p].shape[-2]
                               for p in names)


for _role, _what in (("recurrent", "recurrent"), ("input", "input")):
    register(f"{_what} weights transposed", "weights", 60,
             f"Each gate's {_what} weight is used as (out, in) instead of (in, out): its last two axes swapped "
             f"(a square matrix, so no shape error shows it).",
             lambda inp, r=_role: _square(inp, r),
             lambda inp, r=_role: inp.but(params={p: np.swapaxes(inp.params[p], -1, -2) for p in _weights(inp, r)}).reference())


# ------------------------------------------------------------------ cell structure
def _cell_gates(inp: Inputs) -> tuple[str, str] | None:
    """(forget gate, input gate) of a sequence spec, read from its cell state's update ``f * c + i * g``:
    the forget gate scales the previous cell state, the input gate is the gate of the other product that
    runs the forget gate's activation (the other is the candidate)."""
    spec, a = inp.spec, inp.anatomy
    if spec.is_grid:
        return None
    for state, decl in spec.states.items():
        if state == a.output_state or decl.next not in spec.equations:
            continue
        products = [n for n in spec.equations[decl.next].node.walk() if isinstance(n, BinOp) and n.op == "*"]
        forget = [side.id for n in products for side, other in ((n.left, n.right), (n.right, n.left))
                  if isinstance(side, Name) and side.id in spec.gates and other == Name(state)]
        if len(forget) != 1:
            continue
        pairs = [(n.left.id, n.right.id) for n in products
                 if isinstance(n.left, Name) and isinstance(n.right, Name) and {n.left.id, n.right.id} <= set(spec.gates)
                 and forget[0] not in (n.left.id, n.right.id)]
        act = a.gate_activation.get(forget[0])
        inputs = [g for pair in pairs for g in pair if act is not None and a.gate_activation.get(g) == act]
        if len(inputs) == 1:
            return forget[0], inputs[0]
    return None


def _coupled_applies(inp: Inputs) -> bool:
    gates = _cell_gates(inp)
    return gates is not None and gates[1] not in inp.spec.equations[gates[0]].node.names()


def _coupled(inp: Inputs) -> Result:
    forget, input_gate = _cell_gates(inp)  # type: ignore[misc]
    node = BinOp("-", Num(1.0, "1"), Name(forget, forget), f"1 - {forget}")
    return inp.reference(inp.anatomy.edit(inp.spec, f"input gate coupled: {input_gate} = 1 - {forget}", {input_gate: node}))


def _stale_cell(inp: Inputs) -> dict[Name, Name]:
    """In the output's equation, each other state's new value -> that state's previous value (c_t -> c)."""
    a = inp.anatomy
    if inp.spec.is_grid or a.output_equation is None or a.output_equation not in inp.spec.equations:
        return {}  # a grid cell has no previous c of its own, only predecessors
    reads = inp.spec.equations[a.output_equation].node.names()
    return {Name(d.next): Name(s) for s, d in inp.spec.states.items()
            if d.next and d.next != a.output_equation and d.next in reads}


def _output_from_previous_cell(inp: Inputs) -> Result:
    a, swaps = inp.anatomy, _stale_cell(inp)
    assert a.output_equation is not None
    node = rewrite(inp.spec.equations[a.output_equation].node, lambda n: swaps.get(n) if isinstance(n, Name) else None)
    return inp.reference(a.edit(inp.spec, "output from the previous cell state", {a.output_equation: node}))


def _gate_inside(inp: Inputs) -> tuple[Call, Name, Any] | None:
    """(the cell-output call, the gate, the rest) when the output's equation is ``act(gate * c)``
    (Theis & Bethge's h = tanh(c * o)), the gate either side of the product."""
    call = inp.anatomy.cell_output
    arg = call.args[0] if call is not None else None
    if isinstance(arg, BinOp) and arg.op == "*":
        for gate, rest in ((arg.left, arg.right), (arg.right, arg.left)):
            if isinstance(gate, Name) and gate.id in inp.spec.gates:
                return call, gate, rest  # type: ignore[return-value]
    return None


def _gate_outside(inp: Inputs) -> Result:
    found, a = _gate_inside(inp), inp.anatomy
    assert found is not None and a.output_equation is not None
    call, gate, rest = found
    usual = BinOp("*", gate, Call(call.func, (rest,), call.kwargs, call.text), call.text)
    node = rewrite(inp.spec.equations[a.output_equation].node, swap_node(call, usual))
    return inp.reference(a.edit(inp.spec, "output gate outside the cell activation", {a.output_equation: node}))


register("input gate coupled to the forget gate (i = 1 - f)", "structure", 84,
         "The coupled input-forget gate variant (CIFG, TF's CoupledInputForgetGateLSTMCell): i = 1 - f, the input "
         "gate's own parameters unused.",
         _coupled_applies, _coupled)
register("h_t computed from the previous cell state (before the cell update)", "structure", 84,
         "Statements out of order: the output's equation reads c_{t-1} where the spec reads the new c_t (the cell "
         "state itself is updated as the spec says).",
         lambda inp: bool(_stale_cell(inp)), _output_from_previous_cell)

register("output gate outside the cell activation (h = o * act(c), the usual LSTM's output)", "structure", 84,
         "Where the spec's output equation puts the gate inside the activation, h = act(c * o) (the spatial "
         "LSTM of Theis & Bethge), the usual LSTM's h = o * act(c) is computed.",
         lambda inp: _gate_inside(inp) is not None, _gate_outside)


# ------------------------------------------------------------------ step by step
def _round_float16(a: np.ndarray) -> np.ndarray:
    # Through float32, as torch's .half() rounds a float64 tensor (numpy's direct float64 -> float16
    # rounding differs on about 1 value in 10^4, near ties).
    return np.asarray(a, dtype=np.float32).astype(np.float16).astype(np.float64)


def _round_bfloat16(a: np.ndarray) -> np.ndarray:
    # Round to nearest even on the upper 16 bits of the float32 pattern (numpy has no bfloat16).
    bits = np.asarray(a, dtype=np.float32).view(np.uint32).astype(np.uint64)
    bits = (bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000
    return bits.astype(np.uint32).view(np.float32).astype(np.float64)


def _round_float32(a: np.ndarray) -> np.ndarray:
    return np.asarray(a, dtype=np.float32).astype(np.float64)


#: float64 values rounded to each coarser storage format (and back to float64).
ROUNDINGS = {"float32": _round_float32, "float16": _round_float16, "bfloat16": _round_bfloat16}


def _cell_state(inp: Inputs) -> str | None:
    """The one state of a sequence spec that is not its output's (an LSTM's c)."""
    others = [s for s in _sequence_states(inp.spec) if s != inp.anatomy.output_state]
    return others[0] if len(others) == 1 and others[0] in inp.state else None


def _rounded_cell(inp: Inputs, fmt: str, on_entry: bool) -> Result:
    rnd, cell = ROUNDINGS[fmt], _cell_state(inp)

    def store(_k: int, state: dict) -> dict:
        return {**state, cell: rnd(state[cell])}

    return stepwise(inp, before=(lambda k, s: store(k, s) if k == 0 else s) if on_entry else None, after=store)


register("state not carried between timesteps", "state", 90,
         "Every step starts again from the initial state (the new state is computed but never fed back).",
         lambda inp: _steps(inp) > 1, lambda inp: stepwise(inp, before=lambda _k, _s: dict(inp.state)))
for _fmt in ("float16", "bfloat16"):
    register(f"cell state rounded to {_fmt} after every step", "precision", 95,
             f"The cell state is stored in {_fmt} between steps (computed in full precision within a step; "
             f"h_t uses the unrounded c_t; the returned c_T is the stored one).",
             lambda inp, f=_fmt: _cell_state(inp) is not None and inp.mantissa > MANTISSA[f],
             lambda inp, f=_fmt: _rounded_cell(inp, f, on_entry=False))
    register(f"cell state rounded to {_fmt} on entry and after every step", "precision", 96,
             f"As 'cell state rounded to {_fmt} after every step', and the initial c0 is rounded when loaded.",
             lambda inp, f=_fmt: _cell_state(inp) is not None and inp.mantissa > MANTISSA[f]
             and _nonzero_state(inp, _cell_state(inp)),
             lambda inp, f=_fmt: _rounded_cell(inp, f, on_entry=True))
