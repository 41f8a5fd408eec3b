"""The kernel protocol: ``NAME(x, state, params, config) -> (y, final_state)``.

A user kernel is wrapped in a ``KernelAdapter`` with the same interface as a
framework adapter, so it gets the same cases, tolerances, reports and exit
codes. The plain function needs no import of lstmspec; what it declares is
read from attributes (set by hand or by ``lstmspec.kernel(...)``):

- ``lstmspec_arrays``: ``"torch"`` (default) or ``"numpy"``
- ``lstmspec_layout``: a framework layout of the spec (e.g. ``"torch"``):
  ``params`` then holds that framework's tensors instead of canonical names
- ``lstmspec_supports``: ``{"padding": ("same",), "strides": ((1, 1),)}``;
  other values are skipped-by-declaration
- ``lstmspec_grad``: check gradients through the kernel with autograd
- ``lstmspec_dtypes``: precisions the kernel computes in
- ``lstmspec_devices``: devices it runs on (default ``("cpu", "cuda")``); the
  others' cases are skipped by declaration, e.g. a compiled GPU kernel's CPU cases
- ``lstmspec_gates``: the kernel returns ``(y, final_state, gates)``, ``gates``
  a dict of gate values shaped like ``y``; a failure then says at which step
  which gate left the equations first (``lstmspec.check.gates``)

A ``torch.nn.Module`` subclass that is a drop-in for ``torch.nn.LSTM`` is
also accepted: it is built as ``cls(input, units, batch_first=True)`` and
loaded through the spec's ``torch`` layout.

What a kernel does wrong is a result: an exception, a wrong shape, dtype or
device, NaN/Inf, or an input modified in place each fail that case with a
message saying so.
"""
from __future__ import annotations

import inspect
import signal
import sysconfig
import threading
import traceback
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from ..adapters.base import Adapter, Outcome, Prepared, as_numpy
from ..check.oracle import CaseData
from ..check.precision import Precision, torch_dtype, torch_math_mode
from ..errors import ConfigError
from ..machine import DEVICES
from ..spec.model import Spec
from .declarations import check_supports

ARRAY_KINDS = ("torch", "numpy")


class KernelFault(Exception):
    """The kernel broke the protocol; the message says how (reported as the case's failure).

    ``traceback`` holds every frame of a crash, the framework's included (reports show it on request).
    """

    result_status = "fail"

    def __init__(self, message: str, traceback: str = "") -> None:
        super().__init__(message)
        self.traceback = traceback


def _crashed(exc: BaseException) -> KernelFault:
    return KernelFault(f"raised {_describe(exc)}",
                       "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))


def kernel(*, arrays: str = "torch", layout: str | None = None, supports: Mapping[str, Any] | None = None,
           grad: bool = False, dtypes: tuple[str, ...] | None = None, gates: bool = False,
           devices: tuple[str, ...] | None = None) -> Callable[[Any], Any]:
    """Decorator declaring what a kernel takes and supports (plain attributes work too)."""
    if arrays not in ARRAY_KINDS:
        raise ConfigError(f"Expected arrays in {', '.join(ARRAY_KINDS)} but got arrays={arrays!r}")

    def mark(fn: Any) -> Any:
        fn.lstmspec_arrays = arrays
        fn.lstmspec_layout = layout
        fn.lstmspec_supports = dict(supports or {})
        fn.lstmspec_grad = grad
        fn.lstmspec_gates = gates
        if dtypes is not None:
            fn.lstmspec_dtypes = tuple(dtypes)
        if devices is not None:
            fn.lstmspec_devices = tuple(devices)
        return fn

    return mark


def _is_module_class(obj: Any) -> bool:
    if not inspect.isclass(obj):
        return False
    try:
        import torch
    except ImportError:
        return False
    return issubclass(obj, torch.nn.Module)


class KernelAdapter(Adapter):
    """A user kernel seen through the Adapter interface."""

    framework = "kernel"
    devices = DEVICES

    def __init__(self, fn: Any, ref: str, spec: str | Spec, *, grad: bool | None = None,
                 supports: Mapping[str, Any] | None = None) -> None:
        """``spec``: its name, or the Spec itself, against which the declarations are then checked."""
        self.fn, self.ref = fn, ref
        self.name = ref  # type: ignore[misc]
        self.spec = spec.name if isinstance(spec, Spec) else spec  # type: ignore[misc]
        self.module_class = _is_module_class(fn)
        if not self.module_class and not callable(fn):
            raise ConfigError(f"{ref} is a {type(fn).__name__}, not a function or torch.nn.Module class")
        _check_attribute_names(fn, ref)
        self.arrays = getattr(fn, "lstmspec_arrays", "torch")
        if self.arrays not in ARRAY_KINDS:
            raise ConfigError(f"{ref}: lstmspec_arrays must be one of {', '.join(ARRAY_KINDS)}, not {self.arrays!r}")
        self.layout = "torch" if self.module_class else getattr(fn, "lstmspec_layout", None)  # type: ignore[misc]
        declared = getattr(fn, "lstmspec_supports", {}) or {}
        if not isinstance(declared, Mapping):
            raise ConfigError(f"{ref}: lstmspec_supports must be a dict like {{'padding': ('same',)}}, not "
                              f"{type(declared).__name__}")
        declared = {**declared, **(supports or {})}
        if isinstance(spec, Spec):
            self.supports = check_supports(spec, declared, ref)  # type: ignore[misc]
        else:
            self.supports = {k: tuple(v) if isinstance(v, (list, tuple)) else (v,) for k, v in declared.items()}  # type: ignore[misc]
        self.declared = frozenset(self.supports)  # what the user declared; the rest are the protocol's limits
        self.gradients = bool(getattr(fn, "lstmspec_grad", False) if grad is None else grad)  # type: ignore[misc]
        if self.gradients and self.arrays == "numpy":
            why = "--grad" if grad else "lstmspec_grad = True"
            raise ConfigError(f"{ref}: {why} asks for gradients through autograd, but the kernel takes numpy arrays "
                              "(lstmspec_arrays = 'numpy'); autograd needs torch tensors")
        default = ("float64", "float32", "tf32", "float16", "bfloat16")
        self.precisions = tuple(getattr(fn, "lstmspec_dtypes", default))  # type: ignore[misc]
        declared_devices = getattr(fn, "lstmspec_devices", DEVICES)
        declared_devices = (declared_devices,) if isinstance(declared_devices, str) else tuple(declared_devices)
        unknown = [d for d in declared_devices if d not in DEVICES]
        if unknown or not declared_devices:
            raise ConfigError(f"{ref}: lstmspec_devices must name some of {', '.join(DEVICES)}, not "
                              f"{list(declared_devices)!r}")
        self.devices = declared_devices  # type: ignore[misc]
        self.returns_gates = bool(getattr(fn, "lstmspec_gates", False)) and not self.module_class
        self.limits: dict[str, str] = {}  # why a value is not checked, for what the user did not declare
        if self.module_class:
            drop_in = "a torch.nn.Module drop-in for nn.LSTM (tanh/sigmoid, forward) has only"
            for name, value in (("activation", "tanh"), ("recurrent_activation", "sigmoid"), ("direction", "forward")):
                if name not in self.supports:
                    self.supports[name] = (value,)
                    self.limits[name] = f"{drop_in} {name}={value}"
        if "return_sequences" not in self.supports:
            self.supports["return_sequences"] = (True,)  # y holds every step, by protocol
            self.limits["return_sequences"] = ("a kernel returns y at every step (the protocol), so the last-output-"
                                               "only case is not run")

    # ------------------------------------------------------------------ skip
    def unsupported(self, data: CaseData, device: str, precision: Precision) -> str | None:
        if data.attrs.get("data_format") == "channels_first" and "data_format" not in self.supports:
            return ("data_format=channels_first: kernels are given channels-last x and states (the protocol); "
                    "declare supports={'data_format': ...} to be given channels-first")
        if self.arrays == "numpy" and precision.dtype == "bfloat16":
            return "numpy has no bfloat16"
        if self.module_class and data.spec.name != "lstm" and "torch" not in data.spec.layouts:
            return f"a torch.nn.Module kernel needs the spec's torch layout ({data.spec.name} has none)"
        return None

    # --------------------------------------------------------------- prepare
    def prepare(self, data: CaseData, device: str, precision: Precision, *, threads: int | None = None) -> Prepared:
        """The kernel called as the check calls it, inputs made once: what ``lstmspec bench`` times.

        Unlike ``run``, nothing is validated per call (the check does that first).
        """
        import torch

        def tensor(a: np.ndarray) -> Any:
            return torch.as_tensor(np.ascontiguousarray(a), dtype=torch.float64).to(device=device,
                                                                                   dtype=torch_dtype(precision))

        x = tensor(data.x)
        state = {k: tensor(v) for k, v in data.state.items()}
        layout = data.spec.layout(self.layout) if self.layout else None
        source = layout.to_framework(data.params, data.rng("bias split")) if layout else data.params
        params = {k: tensor(v) for k, v in source.items()}
        config = {**data.attrs, "return_sequences": True}
        weights: list[Any] = []
        if self.module_class:
            module = self.fn(data.x.shape[-1], data.state["h"].shape[-1], batch_first=True)
            module = module.to(device=device, dtype=torch_dtype(precision))
            own = dict(module.named_parameters())
            missing = sorted(set(own) - set(params))
            if missing:
                raise ConfigError(f"the layout gives no {', '.join(missing)}")
            with torch.no_grad():
                for name, p in own.items():
                    p.copy_(params[name])
            weights = list(module.parameters())

            def call(x: Any, state: Mapping[str, Any], params: Mapping[str, Any]) -> Any:
                y, (h, c) = module(x, (state["h"][None], state["c"][None]))
                return y, {"h": h[0], "c": c[0]}
        elif self.arrays == "numpy":
            def to_np(t: Any) -> np.ndarray:
                return t.detach().cpu().numpy().copy()
            np_args = (to_np(x), {k: to_np(v) for k, v in state.items()}, {k: to_np(v) for k, v in params.items()})

            def call(x: Any, state: Mapping[str, Any], params: Mapping[str, Any]) -> Any:
                return self.fn(*np_args, config)
        else:
            def call(x: Any, state: Mapping[str, Any], params: Mapping[str, Any]) -> Any:
                return self.fn(x, dict(state), dict(params), config)

        def forward() -> Any:
            with torch.no_grad():
                return call(x, state, params)

        def outputs() -> Outcome:
            y, final = forward()[:2]  # a kernel that returns its gates returns them third
            return Outcome(as_numpy(y), {k: as_numpy(v) for k, v in dict(final).items()})

        leaves = {"x": x.detach().clone().requires_grad_(True),
                  **{k: v.detach().clone().requires_grad_(True) for k, v in state.items()}}
        grad_params = {k: v.detach().clone().requires_grad_(True) for k, v in params.items()}
        cot = {k: tensor(v) for k, v in data.cotangents.items()}

        def forward_backward() -> Any:
            y, final = call(leaves["x"], {k: leaves[k] for k in state}, grad_params)[:2]
            loss = (y * cot["y"]).sum()
            for k, v in dict(final).items():
                if k in cot:
                    loss = loss + (v * cot[k]).sum()
            targets = list(leaves.values()) + (weights or list(grad_params.values()))
            return torch.autograd.grad(loss, targets, allow_unused=True)

        return Prepared(forward, outputs, forward_backward=forward_backward
                        if self.gradients and self.arrays == "torch" else None,
                        context=lambda: torch_math_mode(precision), note=f"{self.arrays} arrays")

    # ------------------------------------------------------------------- run
    def _run(self, data: CaseData, device: str, precision: Precision, want_grads: bool) -> Outcome:
        import torch

        tdtype = torch_dtype(precision)

        def tensor(a: np.ndarray) -> Any:
            # a copy: a kernel that writes into its inputs must not corrupt the case's cached data
            t = torch.tensor(np.array(a, dtype=np.float64)).to(device=device, dtype=tdtype)
            return t.requires_grad_(want_grads)

        x = tensor(data.x)
        state = {k: tensor(v) for k, v in data.state.items()}
        layout = data.spec.layout(self.layout) if self.layout else None
        source = layout.to_framework(data.params, data.rng("bias split")) if layout else data.params
        params = {k: tensor(v) for k, v in source.items()}
        config = {**data.attrs, **{"return_sequences": True}}
        given = {"x": x, **{f"state[{k!r}]": v for k, v in state.items()},
                 **{f"params[{k!r}]": v for k, v in params.items()}}
        snapshot = {label: v.detach().clone() for label, v in given.items()}
        # the kernel gets copies of the dicts: one that empties or edits them breaks only its own view
        state_arg, params_arg = dict(state), dict(params)
        with torch_math_mode(precision):
            y, final, gates = self._call(x, state_arg, params_arg, config, data, torch)
            for label, before in snapshot.items():
                if not torch.equal(given[label].detach(), before):
                    raise KernelFault(f"modified its input {label} in place")
            if self.module_class:
                params = params_arg  # the module's own parameters are the leaves whose gradients count
            self._check_returned(y, final, data, device, precision, torch)
            grads: dict[str, np.ndarray] = {}
            disconnected: tuple[str, ...] = ()
            if want_grads and _shapes_match(y, final, data):  # a wrong shape is reported as such, not as a crash
                grads, disconnected = self._grads(y, final, data, x, state, params, torch)
        shapes = {k: tuple(v.shape) for k, v in params.items()} if layout else {}
        return Outcome(as_numpy(y), {k: as_numpy(v) for k, v in final.items()}, shapes, grads,
                       {k: as_numpy(v) for k, v in gates.items()}, disconnected)

    def _call(self, x: Any, state: dict[str, Any], params: dict[str, Any], config: dict[str, Any],
              data: CaseData, torch: Any) -> tuple[Any, dict[str, Any], dict[str, Any]]:
        if self.module_class:
            return (*self._call_module(x, state, params, data, torch), {})
        args: tuple[Any, ...] = (x, state, params, config)
        if self.arrays == "numpy":
            def to_np(t: Any) -> np.ndarray:
                return t.detach().cpu().numpy().copy()
            args = (to_np(x), {k: to_np(v) for k, v in state.items()}, {k: to_np(v) for k, v in params.items()}, config)
        try:
            with _own_interrupts() as interrupted:
                returned = self.fn(*args)
        except KernelFault:
            raise
        except KeyboardInterrupt as exc:
            if interrupted():
                raise  # the user pressed Ctrl-C: the run stops, this is not the kernel's doing
            raise _crashed(exc) from None
        except (Exception, SystemExit) as exc:  # noqa: BLE001 - the kernel's exception is the case's result
            raise _crashed(exc) from None
        expected = "(y, final_state, gates)" if self.returns_gates else "(y, final_state)"
        if not isinstance(returned, (tuple, list)) or len(returned) != (3 if self.returns_gates else 2):
            raise KernelFault(f"returned {type(returned).__name__}"
                              + (f" of {len(returned)}" if isinstance(returned, (tuple, list)) else "")
                              + f", but should return {expected}")
        y, final, gates = returned if self.returns_gates else (*returned, {})
        if not isinstance(gates, Mapping):
            raise KernelFault(f"returned gates as {type(gates).__name__}, but should be a dict like "
                              f"{{'i': ..., 'f': ...}} (lstmspec_gates = True)")
        if not isinstance(final, Mapping):
            raise KernelFault(f"returned final_state as {type(final).__name__}, but should be a dict like "
                              f"{{{', '.join(repr(k) for k in data.state)}: ...}}")
        if self.arrays == "numpy":
            y = torch.as_tensor(np.asarray(y))
            final = {k: torch.as_tensor(np.asarray(v)) for k, v in final.items()}
            gates = {k: torch.as_tensor(np.asarray(v)) for k, v in gates.items()}
        return y, dict(final), {k: v.detach() if hasattr(v, "detach") else v for k, v in gates.items()}

    def _call_module(self, x: Any, state: dict[str, Any], params: dict[str, Any], data: CaseData,
                     torch: Any) -> tuple[Any, dict[str, Any]]:
        try:
            module = self.fn(data.x.shape[-1], data.state["h"].shape[-1], batch_first=True)
            module = module.to(device=x.device, dtype=x.dtype)
            own = dict(module.named_parameters())
            missing = sorted(set(params) - set(own))
            if missing:
                raise KernelFault(f"has no parameters {', '.join(missing)} (a drop-in for nn.LSTM has "
                                  f"{', '.join(params)}); it has {', '.join(own) or 'none'}")
            with torch.no_grad():
                for k, v in params.items():
                    own[k].copy_(v)
            # the module's own parameters are the leaves whose gradients count
            for k in params:
                params[k] = own[k]
            out, (h, c) = module(x, (state["h"][None], state["c"][None])) if state else module(x)
        except KernelFault:
            raise
        except (Exception, SystemExit) as exc:  # noqa: BLE001
            raise _crashed(exc) from None
        return out, {"h": h[0], "c": c[0]}

    def _check_returned(self, y: Any, final: dict[str, Any], data: CaseData, device: str, precision: Precision,
                        torch: Any) -> None:
        items = [("y", y)] + [(f"final_state[{k!r}]", v) for k, v in final.items()]
        for label, value in items:
            if not isinstance(value, torch.Tensor):
                raise KernelFault(f"returned {label} as {type(value).__name__}, but should be a "
                                  f"{'numpy array' if self.arrays == 'numpy' else 'torch tensor'}")
            if self.arrays == "torch":
                if value.device.type != torch.device(device).type:
                    raise KernelFault(f"returned {label} on {value.device}, but the case runs on {device}")
                if value.dtype != torch_dtype(precision):
                    raise KernelFault(f"returned {label} as {str(value.dtype).replace('torch.', '')}, "
                                      f"but the case is {precision.dtype}")
        missing = [k for k in data.state if k not in final]
        if missing:
            raise KernelFault(f"final_state has no {', '.join(map(repr, missing))} (it has {', '.join(map(repr, final))})")

    def _grads(self, y: Any, final: dict[str, Any], data: CaseData, x: Any, state: dict[str, Any],
               params: dict[str, Any], torch: Any) -> tuple[dict[str, np.ndarray], tuple[str, ...]]:
        """Gradients of the case's loss, and the leaves no gradient reached (None from autograd)."""
        if self.arrays == "numpy":
            raise KernelFault("declared gradients but takes numpy arrays (autograd needs torch tensors)")
        if not y.requires_grad:
            raise KernelFault("declared gradients, but y does not require grad (computed outside autograd?)")
        dev = y.device
        loss = (y.double() * torch.as_tensor(data.cotangents["y"], device=dev)).sum()
        for k, v in final.items():
            if k in data.cotangents:
                loss = loss + (v.double() * torch.as_tensor(data.cotangents[k], device=dev)).sum()
        leaves = {"x": x, **({} if data.zero_state else state), **params}
        values = torch.autograd.grad(loss, list(leaves.values()), allow_unused=True)
        grads = {k: as_numpy(g) if g is not None else np.zeros(tuple(leaves[k].shape)) for k, g in zip(leaves, values)}
        cut = tuple(f"final_state[{k!r}]" for k, v in final.items() if k in data.cotangents and not v.requires_grad)
        return grads, cut + tuple(k for k, g in zip(leaves, values) if g is None)


KNOWN_ATTRIBUTES = ("lstmspec_arrays", "lstmspec_layout", "lstmspec_supports", "lstmspec_grad", "lstmspec_dtypes",
                    "lstmspec_devices", "lstmspec_gates")


def _check_attribute_names(fn: Any, ref: str) -> None:
    """A misspelt declaration (``lstmspec_suports``) would be ignored and every case checked: refuse it."""
    import difflib

    for name in dir(fn):
        if name.startswith("lstmspec_") and name not in KNOWN_ATTRIBUTES:
            close = difflib.get_close_matches(name, KNOWN_ATTRIBUTES, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise ConfigError(f"{ref}: unknown declaration {name}{hint}; a kernel declares "
                              f"{', '.join(KNOWN_ATTRIBUTES)}")


def _shapes_match(y: Any, final: Mapping[str, Any], data: CaseData) -> bool:
    """Whether y and the final states have the reference's shapes (when the reference has been run)."""
    if data.reference_run is None:
        return True
    ref_y, ref_final = data.reference_run
    return tuple(y.shape) == tuple(np.shape(ref_y)) and all(
        tuple(v.shape) == tuple(np.shape(ref_final[k])) for k, v in final.items() if k in ref_final)


@contextmanager
def _own_interrupts() -> Iterator[Callable[[], bool]]:
    """Tell a real SIGINT (Ctrl-C) from a KeyboardInterrupt the kernel raises itself: the first stops the
    run, the second is the kernel's failure like any exception."""
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield lambda: True
        return
    previous = signal.getsignal(signal.SIGINT)

    def handler(signum: int, frame: Any) -> None:
        received.append(signum)
        if callable(previous):
            previous(signum, frame)
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, handler)
    try:
        yield lambda: bool(received)
    finally:
        signal.signal(signal.SIGINT, previous)


def _describe(exc: BaseException) -> str:
    """The exception at the innermost frame of the user's own code, with its source line.

    The innermost frame is often inside torch (``module.py:1995``), which says
    nothing about the user's bug; the frames of installed packages, the
    standard library and lstmspec itself are passed over.
    """
    frames = traceback.extract_tb(exc.__traceback__)
    own = [f for f in frames if _is_users(f.filename)]
    frame = own[-1] if own else (frames[-1] if frames else None)
    text = str(exc)
    out = type(exc).__name__ + (f": {text}" if text else "")
    if frame is not None:
        out += f" at {Path(frame.filename).name}:{frame.lineno}"
        if frame.line:
            out += f": `{frame.line.strip()}`"
        if own and frame is not frames[-1]:
            inner = frames[-1]
            out += f" (raised in {Path(inner.filename).name}:{inner.lineno})"
    return out


_NOT_USERS = tuple({sysconfig.get_paths()[k] for k in ("stdlib", "platstdlib", "purelib", "platlib")}
                   | {str(Path(__file__).resolve().parents[1])})


def _is_users(filename: str) -> bool:
    """A frame of the user's code: not of the standard library, an installed package, or lstmspec."""
    if filename.startswith("<"):
        return False
    path = str(Path(filename).resolve())
    return not any(path.startswith(root) for root in _NOT_USERS)
