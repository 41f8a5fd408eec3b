"""Static analysis of a spec: shapes, names, updates, cycles, unused declarations.

This is what ``lstmspec lint`` reports and what ``load_spec`` refuses to load
past. Each finding is one SpecError with file, key and line, so a broken spec
gets one precise message per problem rather than a cascade.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from ..errors import ConfigError, SpecError
from ..expr.dims import Dim, Shape, Sym, dim_aliases, render_shape
from ..expr.functions import CONV_MASKS
from ..expr.ir import Call
from ..expr.shapes import ShapeInference
from .model import Equation, Spec


@dataclass(frozen=True)
class Finding:
    severity: str  # "error" | "warning"
    error: SpecError

    def __str__(self) -> str:
        return f"{self.error}" if self.severity == "error" else f"{self.error} (warning)"


def dependency_order(equations: Mapping[str, Equation]) -> tuple[list[str], list[str]]:
    """Equations sorted so each comes after those it uses; and a cycle, if there is one."""
    deps = {name: sorted(eq.node.names() & set(equations)) for name, eq in equations.items()}
    order: list[str] = []
    state: dict[str, int] = {}  # 1: in progress, 2: done
    cycle: list[str] = []

    def visit(name: str, path: list[str]) -> None:
        nonlocal cycle
        if state.get(name) == 2 or cycle:
            return
        if state.get(name) == 1:
            cycle = path[path.index(name):] + [name]
            return
        state[name] = 1
        for dep in deps[name]:
            visit(dep, path + [name])
        state[name] = 2
        order.append(name)

    for name in equations:
        visit(name, [])
    return order, cycle


def analyze(
    spec: Spec,
    *,
    locate: Callable[[SpecError, str], SpecError],
    skip_equations: set[str] = frozenset(),
) -> list[Finding]:
    aliases = {d.derived.key(): d.name for d in spec.dims.values() if d.derived is not None}
    with dim_aliases(aliases):
        return _analyze(spec, locate, set(skip_equations))


def _analyze(spec: Spec, locate: Callable[[SpecError, str], SpecError], skip_equations: set[str]) -> list[Finding]:
    findings: list[Finding] = []

    def error(message: str, key: str, text: str | None = None, severity: str = "error") -> None:
        findings.append(Finding(severity, locate(SpecError(message, text=text), key)))

    known = spec.name_shapes()
    activation_attrs = {a.name: a.default for a in spec.attributes.values() if a.type == "activation"}
    inference = ShapeInference(known, lambda f: activation_attrs.get(f, f))
    shapes: dict[str, Shape] = {}
    failed = set(skip_equations)

    for name in spec.order:
        eq = spec.equations[name]
        if name in failed:
            continue
        undefined = sorted(eq.node.names() - set(known) - set(spec.equations) - failed)
        if undefined:
            message = f"undefined name {undefined[0]!r}"
            if spec.is_grid and undefined[0] in spec.states:
                preds = [p.name for p in spec.predecessors.values() if p.state == undefined[0]]
                message += (f": in a grid recurrence a state is read through a predecessor "
                            f"({', '.join(preds) or 'none declared for it'})")
            error(message, f"equations.{name}", undefined[0])
            failed.add(name)
            continue
        if eq.node.names() & failed:
            failed.add(name)  # already reported where it starts
            continue
        try:
            shapes[name] = inference.infer(eq.node)
        except SpecError as exc:
            findings.append(Finding("error", locate(exc, f"equations.{name}")))
            failed.add(name)
            continue
        known = {**known, name: shapes[name]}
        inference.names = known

    for state in spec.states.values():
        key = f"states.{state.name}"
        if state.next in skip_equations:
            continue  # its equation did not parse: already reported there
        if not state.next:
            error(f"state {state.name} has no update (add next = \"EQUATION\")", key)
        elif state.next not in spec.equations:
            error(f"state {state.name} is updated by {state.next!r}, which is not an equation", f"{key}.next", state.next)
        elif state.next in shapes and shapes[state.next] != state.shape:
            error(
                f"state {state.name} is declared {render_shape(state.shape)} but its update "
                f"{state.next} = `{spec.equations[state.next].text}` has shape {render_shape(shapes[state.next])}",
                f"{key}.next",
            )
    for output in spec.outputs.values():
        key = f"outputs.{output.name}"
        step_shape = spec.step_shape(output)
        if output.step in skip_equations:
            continue
        if not output.step:
            error(f"output {output.name} needs step = \"EQUATION\" (its value at each timestep)", key)
        elif output.step not in spec.equations:
            error(f"output {output.name} takes {output.step!r}, which is not an equation", f"{key}.step", output.step)
        elif output.step in shapes and shapes[output.step] != step_shape:
            error(
                f"output {output.name} is declared {render_shape(output.shape)}, so one step is "
                f"{render_shape(step_shape)}, but {output.step} has shape {render_shape(shapes[output.step])}",
                f"{key}.step",
            )
    for decl in spec.core_inputs().values():
        table = "transforms" if decl.name in spec.transforms else "inputs"
        for axis in spec.recurrence.scan_axes:
            if not any(d.render() == axis for d in decl.shape):
                error(f"input {decl.name} has no {axis} axis to iterate over", f"{table}.{decl.name}" +
                      (".shape" if table == "inputs" else ""))
                break
    if spec.is_grid:
        for output in spec.outputs.values():
            missing = [a for a in spec.recurrence.axes if Sym(a) not in output.shape]
            if missing:
                error(f"output {output.name} holds every cell and needs the {missing[0]} axis", f"outputs.{output.name}.shape")
    _check_masks(spec, error)
    _check_sizes(spec, error)

    if skip_equations:
        return findings  # usage is unknowable while an equation does not parse
    used = set().union(*(eq.node.names() for eq in spec.equations.values())) if spec.equations else set()
    used |= {t.source for t in spec.transforms.values() if t.name in used}
    for table, group in (("params", spec.params), ("inputs", spec.inputs), ("transforms", spec.transforms)):
        for name in group:
            if name not in used:
                error(f"{table[:-1]} {name} is declared but no equation uses it", f"{table}.{name}")
    for pred in spec.predecessors.values():
        if pred.name not in used:
            error(f"predecessor {pred.name} is declared but no equation uses it", f"predecessors.{pred.name}",
                  severity="warning")
    for name in spec.states:
        readers = {p.name for p in spec.predecessors.values() if p.state == name} if spec.is_grid else {name}
        if not readers & used:
            error(f"state {name} is never read by an equation", f"states.{name}", severity="warning")
    sinks = {s.next for s in spec.states.values()} | {o.step for o in spec.outputs.values()}
    reachable: set[str] = set()
    frontier = [s for s in sinks if s in spec.equations]
    while frontier:
        name = frontier.pop()
        if name in reachable:
            continue
        reachable.add(name)
        frontier += [n for n in spec.equations[name].node.names() if n in spec.equations]
    for name in spec.equations:
        if name not in reachable:
            error(f"equation {name} is computed but no state or output depends on it", f"equations.{name}", severity="warning")
    used_dims = set()
    for group in (spec.inputs, spec.params, spec.states, spec.outputs):
        for decl in group.values():
            for d in decl.shape:
                used_dims |= d.symbols()
    for item in list(spec.transforms.values()) + list(spec.stages):
        for value in dict(item.options).values():
            for d in value if isinstance(value, tuple) else (value,):
                if isinstance(d, Dim):
                    used_dims |= d.symbols()
                elif isinstance(d, str) and d in spec.dims:  # a transform keeps its options as written
                    used_dims.add(d)
        for d in item.shape:
            used_dims |= d.symbols()
    for decl in spec.dims.values():
        if decl.derived is not None:
            used_dims |= decl.derived.symbols()
    for name, decl in spec.dims.items():
        if decl.derived is None and name not in used_dims:
            error(f"dimension {name} is declared but no shape uses it", f"dims.{name}", severity="warning")
    return findings


def _check_masks(spec: Spec, error: Callable[..., None]) -> None:
    """A conv ``mask=NAME`` names A, B, none or a choice attribute whose values are those;
    ``mask_groups=NAME`` an integer attribute (the number of colour groups)."""
    for eq in spec.equations.values():
        for node in eq.node.walk():
            if not (isinstance(node, Call) and node.func == "conv"):
                continue
            mask = node.option("mask")
            if mask is not None and mask not in CONV_MASKS:
                attr = spec.attributes.get(str(mask))
                if attr is None or attr.type != "choice" or set(attr.values) - set(CONV_MASKS):
                    error(f"conv mask={mask} must be {', '.join(CONV_MASKS)} or a choice attribute with those values",
                          f"equations.{eq.name}", node.text)
            groups = node.option("mask_groups")
            if isinstance(groups, str):
                attr = spec.attributes.get(groups)
                if attr is None or not (attr.type == "int" or (attr.type == "ints" and attr.length == 1)):
                    error(f"conv mask_groups={groups} must be a positive integer or an int attribute",
                          f"equations.{eq.name}", node.text)


def _check_sizes(spec: Spec, error: Callable[..., None]) -> None:
    """Every derived dimension computed at the default sizes and attributes, so that a formula such as
    ``units // (units - units)`` or a size below 1 is found by lint rather than by the first run."""
    try:
        attrs = spec.resolve_config({})
    except ConfigError:
        return  # a bad default is reported where the attribute is declared
    sizes = {name: decl.default for name, decl in spec.dims.items() if decl.derived is None}
    pending = {name: decl.derived for name, decl in spec.dims.items() if decl.derived is not None}
    while pending:  # a derived dim may stand for another by name (one taken from a transform): those first
        ready = [name for name, dim in pending.items() if dim.symbols() <= set(sizes)]
        if not ready:
            return  # what is left depends on a size that failed, reported there
        for name in ready:
            dim = pending.pop(name)
            try:
                value = dim.evaluate(sizes, attrs)
            except ConfigError as exc:
                error(f"dimension {name} cannot be computed at the default sizes: {exc}", f"dims.{name}")
                continue
            if value < 1:
                with dim_aliases({}):  # its formula, not its own name
                    formula = dim.render(attrs)
                error(f"dimension {name} = {formula} is {value} at the default sizes; a size is at least 1", f"dims.{name}")
                continue
            sizes[name] = value
