"""Run a spec's reference: check the arrays against the spec, compile its program once per Spec object
(a :class:`~.program.Program`, or a :class:`~.grid.GridProgram` for a grid recurrence) and run it.

``Spec.reference`` comes here (through :mod:`.facade`). The Spec stays plain data: the compiled programs
are kept here, by Spec object, and freed with it.
"""
from __future__ import annotations

import weakref
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..errors import ConfigError, ShapeError
from ..spec.model import Spec
from . import shards
from .backends import Backend, get_backend
from .binding import bind_dims, check_memory, leading_axes
from .data_format import data_format, from_format, to_format
from .grid import GridProgram
from .program import Program


#: id(spec) -> (a weak reference to the spec, its programs by (backend, attributes)). The Spec stays plain
#: data; an edited copy (``dataclasses.replace``, as the diagnosis makes) is another object with its own programs.
_PROGRAMS: dict[int, tuple[Any, dict[tuple, Program]]] = {}


def programs_of(spec: Spec) -> dict[tuple, Program]:
    """The compiled programs of this Spec object, kept while it lives."""
    key = id(spec)
    found = _PROGRAMS.get(key)
    if found is not None and found[0]() is spec:
        return found[1]
    programs: dict[tuple, Program] = {}
    _PROGRAMS[key] = (weakref.ref(spec), programs)
    weakref.finalize(spec, _PROGRAMS.pop, key, None)
    return programs


def program_for(spec: Spec, attrs: Mapping[str, Any], backend: Backend) -> Program:
    """The spec's program for these attributes on this backend, compiled once per Spec object."""
    key = (backend.key, tuple(sorted((k, v) for k, v in attrs.items())))
    programs = programs_of(spec)
    program = programs.get(key)
    if program is None:
        if spec.is_grid:
            program = GridProgram(spec, attrs, backend)
        else:
            program = Program(spec, attrs, backend)
        programs[key] = program
    return program


def run_reference(
    spec: Spec,
    x: Any,
    state: Mapping[str, Any],
    params: Mapping[str, Any],
    config: Mapping[str, Any] | None,
    *,
    backend: str | Backend = "numpy",
) -> tuple[Any, dict[str, Any]]:
    attrs = spec.resolve_config(config)
    be = backend if isinstance(backend, Backend) else get_backend(backend)
    if not isinstance(state, Mapping) or not isinstance(params, Mapping):
        raise ConfigError("state and params must be dicts of arrays under the spec's names")
    initial = spec.initial_states
    missing = [n for n in initial if n not in state] + [n for n in spec.params if n not in params]
    if missing:
        raise ShapeError(f"missing {', '.join(missing)} (spec {spec.name} needs states {', '.join(initial)} "
                         f"and params {', '.join(spec.params)})")
    extra = [n for n in state if n not in initial] + [n for n in params if n not in spec.params]
    if extra:
        raise ShapeError(f"unexpected {', '.join(map(str, extra))}: spec {spec.name} has no such state or parameter")
    (input_name, input_decl), = spec.inputs.items()
    fmt = data_format(attrs)
    x = from_format(be.asarray(x), leading_axes(spec, input_decl), fmt, be)
    state = {k: from_format(be.asarray(v), leading_axes(spec, initial[k]), fmt, be) for k, v in state.items()}
    arrays = {f"x (input {input_name})": ("input", input_decl, tuple(x.shape))}
    arrays.update({f"params[{n!r}]": ("param", spec.params[n], tuple(params[n].shape)) for n in spec.params})
    arrays.update({f"state[{n!r}]": ("state", initial[n], tuple(state[n].shape)) for n in initial})
    dims = bind_dims(spec, attrs, arrays)
    check_memory(spec, dims, attrs)
    if spec.transforms:
        from .transforms import apply_transforms

        (x,) = apply_transforms(spec, attrs, {input_name: x}, be).values()
    program = program_for(spec, attrs, be)
    if spec.is_grid:
        with np.errstate(over="ignore"):
            return _run(program, x, state, params)
    reverse = spec.recurrence.reversed(attrs)
    if reverse:
        x = be.flip(x, spec.time_axis(spec.core_input))
    with np.errstate(over="ignore"):
        y, final = _run(program, x, state, params)
    if reverse:  # output step t belongs to input position t
        y = be.flip(y, spec.time_axis(spec.first_output))
    y = to_format(y, leading_axes(spec, spec.first_output), fmt, be)
    final = {k: to_format(v, leading_axes(spec, spec.initial_states[k]), fmt, be) for k, v in final.items()}
    return y, final


def _run(program: Program, x: Any, state: Mapping[str, Any], params: Mapping[str, Any]) -> tuple[Any, dict[str, Any]]:
    """The program over the whole batch, in batch shards on threads where the backend allows (``shards.py``)."""
    if program.be.shards_batch:
        count, threads = shards.plan(program.spec, x, state)
        if threads > 1:
            return shards.run_sharded(program.run, x, state, params, count, threads)
    return program.run(x, state, params)


__all__ = ["program_for", "programs_of", "run_reference"]
