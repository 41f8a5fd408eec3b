"""``lstmspec trace``: the forward pass of a spec, step by step (cell by cell), every gate's value printed.

A worked example a reader can follow by hand: small random inputs and
parameters (printed), then for each step (each cell of a grid, in scan order,
1-based as in Jae Duk Seo's "Only Numpy" forward pass: (1,1), (1,2), (2,1),
(2,2)) the input, the states it reads and every equation's value, gates with
their pre-activation. The values come from the plain evaluator
(``lstmspec.reference.evaluate``), and the end of the trace says that they
equal the reference's.

    $ lstmspec trace mdlstm2d                  # a 2x2 image, cell by cell
    $ lstmspec trace lstm units=2 --steps 2    # the first two timesteps
    $ lstmspec trace convlstm2d --pixels 2     # the first two pixels of every gate

The command line (parsing, writing) is :mod:`lstmspec.cli.trace`.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from math import prod
from typing import Any

import numpy as np

from .errors import ConfigError
from .expr.functions import FUNCTIONS
from .expr.ir import Call
from .reference.data_format import CHANNELS_LAST, data_format
from .spec.model import Spec

DEFAULT_STEPS = 3
DEFAULT_PIXELS = 2
PRINT_PARAMS_UP_TO = 256  # values; larger parameter sets are summarised
ARRAY_OVERHEAD = 112  # bytes of one numpy array object besides its data (sys.getsizeof(np.empty(0)))


def fmt(value: Any) -> str:
    """A vector as ``[0.1234, -0.5678]``; a scalar as ``0.1234``."""
    a = np.asarray(value, dtype=np.float64)
    if a.ndim == 0:
        return f"{float(a):.4f}"
    if a.ndim == 1:
        return "[" + ", ".join(f"{v:.4f}" for v in a) + "]"
    return "[" + ", ".join(fmt(row) for row in a) + "]"


class _Writer:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def __call__(self, text: str = "") -> None:
        self.lines.append(text)

    def text(self) -> str:
        return "\n".join(self.lines).rstrip("\n") + "\n"


def _setup(spec: Spec, dims: Mapping[str, int], attrs: Mapping[str, Any], seed: int) -> tuple[dict, dict, Any, dict, dict]:
    sizes = dict(spec.example) if spec.trace_example else {}
    if "batch" in spec.dims and spec.dims["batch"].derived is None and not spec.trace_example:
        sizes["batch"] = 1
    sizes.update(dims)
    config = dict(attrs)
    if data_format(config) != CHANNELS_LAST:
        raise ConfigError("trace shows channels-last arrays (the spec's layout); leave data_format at channels_last")
    resolved = spec.resolve_config(config)
    all_dims = spec.resolve_dims(sizes, resolved)
    _check_memory(spec, all_dims, resolved)
    rng = np.random.default_rng(seed)
    params = spec.random_params(resolved, rng, **{k: v for k, v in sizes.items()})
    x, state = spec.random_inputs(resolved, rng, **{k: v for k, v in sizes.items()})
    return resolved, all_dims, x, state, params


def _check_memory(spec: Spec, dims: Mapping[str, int], attrs: Mapping[str, Any]) -> None:
    """The trace runs the reference once and besides keeps one array per step (cell) of the first output,
    so a long sequence is refused before its first step rather than after minutes of growing."""
    from .reference.binding import check_memory

    steps = prod(dims[axis] for axis in spec.recurrence.scan_axes)
    (out_decl,) = list(spec.outputs.values())[:1]
    per_step = prod(d.evaluate(dims, attrs) for d in spec.step_shape(out_decl))
    check_memory(spec, dims, attrs, extra=steps * (ARRAY_OVERHEAD + 8 * per_step),
                 what=f"the reference's tensors and one array for each of its {steps} steps")


def _header(out: _Writer, spec: Spec, attrs: Mapping[str, Any], dims: Mapping[str, int], seed: int,
            x: Any, state: Mapping[str, Any], params: Mapping[str, Any], *, show_params: bool | None) -> None:
    from .tables import format_attr

    primary = {k: v for k, v in dims.items() if spec.dims[k].derived is None}
    out(f"{spec.name}: {spec.title}")
    out("sizes: " + " ".join(f"{k}={v}" for k, v in primary.items())
        + "; attributes: " + " ".join(f"{k}={format_attr(v)}" for k, v in attrs.items()))
    out(f"random inputs and parameters, seed {seed} (lstmspec trace {spec.name} ... --seed {seed})")
    if primary.get("batch", 1) > 1:
        out(f"batch element 0 of {primary['batch']} is shown")
    out()
    (name, _), = spec.inputs.items()
    out(f"input {name} {tuple(np.shape(x))}:")
    out(f"  {fmt(np.asarray(x)[0])}")
    for sname, value in state.items():
        out(f"initial {sname} {tuple(np.shape(value))}: {fmt(np.asarray(value)[0])}")
    total = sum(int(np.size(v)) for v in params.values())
    if show_params is None:
        show_params = total <= PRINT_PARAMS_UP_TO
    if show_params:
        out("parameters:")
        for pname, value in params.items():
            out(f"  {pname} {tuple(np.shape(value))} = {fmt(value)}")
    else:
        out(f"parameters: {len(params)} tensors, {total} values (--params prints them)")
    out()


def _gate_lines(spec: Spec, attrs: Mapping[str, Any], env: Mapping[str, Any], be: Any,
                pick: Callable[[Any], Any]) -> list[str]:
    """One line per equation: ``i = sigmoid(pre) = value``, gates with their pre-activation."""
    from .reference.evaluate import evaluate

    lines = []
    width = max(len(n) for n in spec.order)
    for name in spec.order:
        node = spec.equations[name].node
        value = pick(env[name])
        label = name
        if name in spec.gates and isinstance(node, Call) and len(node.args) == 1:
            func = str(attrs.get(node.func, node.func))
            if FUNCTIONS.get(func).kind == "activation":
                pre = pick(evaluate(node.args[0], env, attrs, be))
                lines.append(f"  {label:<{width}} = {func}({fmt(pre)}) = {fmt(value)}")
                continue
        lines.append(f"  {label:<{width}} = {fmt(value)}" + (f"    `{spec.equations[name].text}`"
                                                              if name not in spec.gates else ""))
    return lines


def _trace_grid(out: _Writer, spec: Spec, attrs: Mapping[str, Any], x: Any, state: Mapping[str, Any],
                params: Mapping[str, Any], steps: int | None) -> tuple[Any, dict[str, Any]]:
    from .reference.backends import get_backend
    from .reference.grid import run_grid_loop

    be = get_backend("numpy")
    axes = spec.recurrence.axes
    order = ", ".join(f"{a} {'first to last' if s > 0 else 'last to first'}"
                      for a, s in zip(axes, spec.recurrence.signs(attrs)))
    out(f"cells in scan order ({order}), positions 1-based (row, col) in the image:")
    shown = {"count": 0}
    bounds = {p.name: p for p in spec.predecessors.values()}

    def on_cell(pos: tuple[int, ...], env: dict[str, Any]) -> None:
        shown["count"] += 1
        if steps is not None and shown["count"] > steps:
            return
        where = "(" + ", ".join(str(p + 1) for p in pos) + ")"
        out()
        out(f"cell {where}:")
        for cname in spec.core_inputs():
            out(f"  {cname} = {fmt(env[cname][0])}")
        signs = spec.recurrence.signs(attrs)
        for pname, pred in bounds.items():
            back = list(pos)
            back[pred.axis] -= signs[pred.axis]
            inside = 0 <= back[pred.axis] < int(np.shape(x)[1 + pred.axis])
            src = (f"{pred.state} of cell ({', '.join(str(b + 1) for b in back)})" if inside
                   else f"boundary {pred.boundary}")
            out(f"  {pname} = {fmt(env[pname][0])}    ({src})")
        for line in _gate_lines(spec, attrs, env, be, lambda v: np.asarray(v)[0]):
            out(line)

    y, final = run_grid_loop(spec, x, state, params, attrs, backend=be, on_cell=on_cell)
    if steps is not None and shown["count"] > steps:
        out()
        out(f"... {shown['count'] - steps} more cells (--steps N shows more)")
    return y, final


def _positions(shape: Sequence[int], count: int) -> list[tuple[int, ...]]:
    from itertools import islice, product

    return list(islice(product(*(range(s) for s in shape)), count))


def _trace_sequence(out: _Writer, spec: Spec, attrs: Mapping[str, Any], x: Any, state: Mapping[str, Any],
                    params: Mapping[str, Any], steps: int, pixels: int) -> tuple[Any, dict[str, Any]]:
    from .reference.backends import get_backend
    from .reference.evaluate import step_values
    from .reference.program import time_axis
    from .reference.transforms import apply_transforms

    be = get_backend("numpy")
    (input_name, _), = spec.inputs.items()
    core = apply_transforms(spec, attrs, {input_name: be.asarray(x)}, be) if spec.transforms else {input_name: x}
    (core_name, core_decl), = spec.core_inputs().items()
    seq = np.asarray(core[core_name])
    t_axis = time_axis(spec, core_decl)
    total = seq.shape[t_axis]
    order = list(range(total))[::-1] if spec.recurrence.reversed(attrs) else list(range(total))
    spatial = seq.ndim - 3  # axes between time and channels (ConvLSTM frames)

    def pick(v: Any) -> Any:
        a = np.asarray(v)[0]
        return a

    if spatial > 0:
        out(f"each value below is at the first {pixels} pixel(s) of the state, in raster order: (row, col) 1-based")
    current = {k: be.asarray(v) for k, v in state.items()}
    outputs = []
    (_, out_decl), = list(spec.outputs.items())[:1]
    for k, t in enumerate(order):
        x_t = np.take(seq, t, axis=t_axis)
        env = {**{n: be.asarray(p) for n, p in params.items()}, core_name: x_t, **current}
        env.update(step_values(spec, attrs, env, be))
        if k < steps:
            out()
            label = f"step {k + 1}" + (f" (input position {t + 1})" if order[0] != 0 else "")
            if spec.transforms:
                transform = spec.transforms[core_name]
                label += f": {core_name} = {transform.op_name(attrs)}({transform.source})[{t + 1}]"
            out(label + ":")
            if spatial == 0:
                out(f"  {core_name} = {fmt(pick(x_t))}")
                for sname in spec.states:
                    out(f"  {sname} (before) = {fmt(pick(env[sname]))}")
                for line in _gate_lines(spec, attrs, env, be, pick):
                    out(line)
            else:
                shape = np.asarray(env[out_decl.step]).shape[1:-1]
                for pos in _positions(shape, pixels):
                    where = "(" + ", ".join(str(p + 1) for p in pos) + ")"
                    out(f" pixel {where}:")
                    for sname in spec.states:
                        out(f"  {sname} (before) = {fmt(np.asarray(env[sname])[(0,) + pos])}")
                    for line in _gate_lines(spec, attrs, env, be, lambda v, pos=pos: np.asarray(v)[(0,) + pos]):
                        out(line)
        current = {name: env[decl.next] for name, decl in spec.states.items()}
        outputs.append(env[out_decl.step])
    if steps < total:
        out()
        out(f"... {total - steps} more steps (--steps N shows more)")
    y = np.stack(outputs, axis=time_axis(spec, out_decl))
    if order[0] != 0:
        y = np.flip(y, time_axis(spec, out_decl))
    return y, current


def trace_text(spec: Spec, dims: Mapping[str, int] | None = None, attrs: Mapping[str, Any] | None = None, *,
               steps: int | None = None, pixels: int = DEFAULT_PIXELS, seed: int = 0,
               show_params: bool | None = None) -> str:
    """The trace as text (what ``lstmspec trace`` prints)."""
    resolved, all_dims, x, state, params = _setup(spec, dims or {}, attrs or {}, seed)
    out = _Writer()
    _header(out, spec, resolved, all_dims, seed, x, state, params, show_params=show_params)
    if spec.is_grid:
        y, final = _trace_grid(out, spec, resolved, x, state, params, steps)
    else:
        y, final = _trace_sequence(out, spec, resolved, x, state, params, steps or DEFAULT_STEPS, pixels)
    y_ref, final_ref = spec.reference(x, state, params, resolved)
    err = max([float(np.max(np.abs(np.asarray(y) - y_ref)))]
              + [float(np.max(np.abs(np.asarray(final[k]) - final_ref[k]))) for k in final_ref])
    out()
    out(f"output y {tuple(np.shape(y_ref))}; final states {', '.join(final_ref)}: the traced values equal "
        f"lstmspec's reference (max difference {err:.1e})")
    return out.text()
