"""What a case is checked against: float64 values and gradients from the spec's
own equations, and the yardstick (the same equations in the precision under test).

Everything here is derived from the spec: the numpy float64 reference gives
the values, the same program evaluated with torch in float64 gives the
gradients (autograd through the spec's expressions), and the same program in
float32/float16/... on the device under test gives the yardstick error that
sets the bound (see ``precision``).
"""
from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..spec.model import Spec
from .cases import Case
from .precision import Precision, torch_math_mode


@dataclass
class CaseData:
    """One case's concrete inputs (float64 numpy, in the case's data format)."""

    spec: Spec
    case: Case
    seed: int
    attrs: dict[str, Any]
    dims: dict[str, int]
    x: np.ndarray
    state: dict[str, np.ndarray]
    params: dict[str, np.ndarray]
    cotangents: dict[str, np.ndarray]  # "y" and every state: L = sum(y * Gy) + sum(final[s] * G[s])
    time_axis: int
    reference_run: tuple[Any, dict[str, Any]] | None = None  # the numpy float64 (y, final), computed once

    @property
    def return_sequences(self) -> bool:
        return bool(self.case.option("return_sequences"))

    @property
    def zero_state(self) -> bool:
        return self.case.option("state") == "zeros"

    def rng(self, purpose: str) -> np.random.Generator:
        """A generator for a side purpose (e.g. splitting a bias) that does not
        disturb the case's inputs."""
        import zlib

        return np.random.default_rng([self.seed, zlib.crc32(purpose.encode())])

    def last_step(self, y: Any) -> Any:
        """The output computed last: at the last input position, or at the first in a reversed recurrence
        (what Keras returns with return_sequences=False and go_backwards=True; it equals h_T)."""
        index = [slice(None)] * y.ndim
        index[self.time_axis] = last_index(self.spec, self.attrs)
        return y[tuple(index)]


def last_index(spec: Spec, attrs: dict[str, Any]) -> int:
    """Index along time of the step computed last (output steps are in input positions)."""
    return 0 if spec.recurrence.reversed(attrs) else -1


LARGE_SCALE = 4.0  # the ``scale=large`` option: pre-activations about 16x their usual size


def make_data(spec: Spec, case: Case, run_seed: int) -> CaseData:
    seed = case.seed(run_seed)
    rng = np.random.default_rng(seed)
    attrs = spec.resolve_config(case.config)
    dims = spec.resolve_dims(dict(case.dims), attrs)
    params = spec.random_params(attrs, rng, **dict(case.dims))
    x, state = spec.random_inputs(attrs, rng, **dict(case.dims))
    if case.option("scale") == "large":  # gates pushed into saturation, where activations' tails matter
        x = x * LARGE_SCALE
        params = {k: v * LARGE_SCALE for k, v in params.items()}
        state = {k: v * LARGE_SCALE for k, v in state.items()}
    if case.option("state") == "zeros":
        state = {k: np.zeros_like(v) for k, v in state.items()}
    (out_name, out_decl), = list(spec.outputs.items())[:1]
    time_axis = [d.render() for d in out_decl.shape].index(spec.recurrence.axis)
    y, final = spec.reference(x, state, params, attrs)
    gy = rng.standard_normal(y.shape)
    if case.option("return_sequences") is False:
        keep = np.zeros(y.shape[time_axis])
        keep[last_index(spec, attrs)] = 1.0
        shape = [1] * y.ndim
        shape[time_axis] = -1
        gy = gy * keep.reshape(shape)
    cot = {"y": gy, **{k: rng.standard_normal(v.shape) for k, v in final.items()}}
    return CaseData(spec, case, seed, attrs, dims, x, state, params, cot, time_axis, (y, final))


@dataclass
class Expected:
    """Outputs, final states and gradients of one implementation of the equations."""

    y: np.ndarray
    final: dict[str, np.ndarray]
    grads: dict[str, np.ndarray] = field(default_factory=dict)  # "x", state names, canonical params


def reference(data: CaseData) -> Expected:
    """The oracle: numpy float64 values, torch float64 autograd gradients."""
    y, final = data.spec.reference(data.x, data.state, data.params, data.attrs)
    expected = Expected(np.asarray(y), {k: np.asarray(v) for k, v in final.items()})
    try:
        import torch  # noqa: F401
    except ImportError:
        return expected  # values only; gradient checks need torch
    expected.grads = spec_in_torch(data, "float64", "cpu", None, grads_only=True).grads
    return expected


def reference_with_torch64(data: CaseData) -> tuple[Expected, Expected | None]:
    """The oracle, and the spec's torch float64 run it took its gradients from.

    The torch float64 run is also the float64 CPU yardstick, so the runner
    keeps it instead of evaluating the same program twice.
    """
    y, final = data.reference_run or data.spec.reference(data.x, data.state, data.params, data.attrs)
    expected = Expected(np.asarray(y), {k: np.asarray(v) for k, v in final.items()})
    try:
        import torch  # noqa: F401
    except ImportError:
        return expected, None
    torch64 = spec_in_torch(data, "float64", "cpu", None)
    expected.grads = torch64.grads
    return expected, torch64


def spec_in_torch(data: CaseData, dtype: str, device: str, precision: Precision | None,
                  *, grads_only: bool = False, with_grads: bool = True) -> Expected:
    """The spec's equations evaluated by torch in ``dtype`` on ``device``, with autograd."""
    import torch

    from ..reference.backends import TorchBackend

    backend = TorchBackend(dtype, device)
    tdtype = getattr(torch, dtype)

    def leaf(a: np.ndarray) -> Any:
        t = torch.as_tensor(np.asarray(a), dtype=torch.float64).to(device=device, dtype=tdtype)
        return t.requires_grad_(with_grads)

    x = leaf(data.x)
    state = {k: leaf(v) for k, v in data.state.items()}
    params = {k: leaf(v) for k, v in data.params.items()}
    mode = torch_math_mode(precision) if precision is not None else nullcontext()
    with mode:
        y, final = data.spec.reference(x, state, params, data.attrs, backend=backend)
        grads: dict[str, np.ndarray] = {}
        if with_grads:
            loss = (y.double() * torch.as_tensor(data.cotangents["y"], device=device)).sum()
            for k, v in final.items():
                loss = loss + (v.double() * torch.as_tensor(data.cotangents[k], device=device)).sum()
            leaves = {"x": x, **state, **params}
            values = torch.autograd.grad(loss, list(leaves.values()), allow_unused=True)
            grads = {k: _np(g) if g is not None else np.zeros(leaves[k].shape) for k, g in zip(leaves, values)}
    if grads_only:
        return Expected(np.empty(0), {}, grads)
    return Expected(_np(y), {k: _np(v) for k, v in final.items()}, grads)


def _np(t: Any) -> np.ndarray:
    import torch

    return t.detach().to("cpu", dtype=torch.float64).numpy()
