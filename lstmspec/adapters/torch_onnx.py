"""``torch.onnx.export`` -> ONNX Runtime: ``torch.nn.LSTM`` (and with ``proj_size``) as a user ships it to ONNX.

The module is built and loaded exactly as the PyTorch adapters build it
(``torch.nn.LSTM(batch_first=True)``, weights through the spec's ``torch``
layout, float32), put in eval mode and exported with its weights as
initializers; ``x`` (and ``h0``, ``c0`` unless the case starts from zeros) are
the graph's inputs. An ONNX Runtime CPU ``InferenceSession`` runs the model
and its outputs are compared with the spec, so what is checked is the
exporter's translation of the layer: its gate reordering (PyTorch i, f, g, o
to ONNX i, o, f, c), its bias handling, its layout transposes. Two exporters:

* ``dynamo=False``: the TorchScript exporter; the graph holds one ONNX ``LSTM``
  node between ``Transpose``/``Squeeze`` nodes. It refuses ``proj_size > 0``
  ("LSTMs with projections"): those cases are skipped with its message.
* ``dynamo=True`` (torch 2.13's default): ``torch.export`` then onnxscript; the
  graph holds one ``LSTM`` node between ``Slice``/``Transpose``/``Reshape`` nodes.
  With ``proj_size > 0`` it writes a model that ONNX Runtime refuses: a failed
  case carrying ONNX Runtime's message.

The dynamo exporter runs in a spawned process (see ``export_isolated``: with
Triton installed it cannot share a process with TensorFlow). An export costs
0.1-0.3 s (TorchScript) or about 1.5 s (dynamo), so each case's
model is exported once and cached by (exporter, the loaded module and inputs), for
``check`` and ``bench`` alike; the dynamo exporter runs the spec's default case
only (the others are skipped, saying so).
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import warnings
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

import numpy as np

from ..check.oracle import CaseData
from ..check.precision import PRECISIONS, Precision
from .base import FRAMEWORKS, Framework, Outcome, Prepared, adapter, as_numpy
from .conversion import ConversionPath, ConversionRefused, ExportedModelFailed, first_line, graph_summary, quiet_fds
from .torch_layers import Built, NNLSTMBatchFirst, _NNLSTM
from .torch_projection import NNLSTMProjection

FRAMEWORKS.register("torch.onnx", Framework("torch.onnx", ("torch", "onnx", "onnxscript", "onnxruntime"),
                                            "pip install 'lstmspec[all]'"))


T = TypeVar("T")
_EXPORTS: dict[tuple[str, ...], bytes | ConversionRefused] = {}
_CACHE_LIMIT = 64  # exported models kept (a few kB each at check sizes)


def _digest(module: Any, inputs: dict[str, Any]) -> str:
    """What the export depends on: the module's loaded tensors (after the layout) and its example inputs."""
    h = hashlib.sha256(repr(module).encode())
    for name, tensor in [*module.state_dict().items(), *sorted(inputs.items())]:
        h.update(f"{name}{tuple(tensor.shape)}{tensor.dtype}".encode())
        h.update(np.ascontiguousarray(tensor.detach().numpy()).tobytes())
    return h.hexdigest()


def export(module: Any, args: tuple[Any, ...], dynamo: bool) -> bytes:
    """The ONNX model of ``module`` called on ``args``; ConversionRefused with the exporter's message."""
    import torch

    out, err = io.StringIO(), io.StringIO()  # the dynamo exporter prints its progress
    logger = logging.getLogger("torch.onnx")  # and logs the optional ops it skips (torchvision's)
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), \
                quiet_fds():
            warnings.simplefilter("ignore")
            if dynamo:
                program = torch.onnx.export(module, args, dynamo=True, verbose=False)
                return program.model_proto.SerializeToString()
            buffer = io.BytesIO()
            torch.onnx.export(module, args, buffer, dynamo=False)
            return buffer.getvalue()
    except Exception as exc:  # noqa: BLE001 - each exporter raises its own classes
        raise ConversionRefused(f"torch.onnx.export(dynamo={dynamo}) refuses: {first_line(exc)}") from None
    finally:
        logger.setLevel(level)


_POOL: Any = None  # one spawned process for the dynamo exporter, started on first use


def export_isolated(module: Any, args: tuple[Any, ...]) -> bytes:
    """``export(module, args, dynamo=True)`` in a fresh Python process, reused for every export.

    The dynamo exporter imports Triton when it is installed, and Triton and
    TensorFlow in one process abort it in LLVM ("Option ... registered more
    than once"), which no ``except`` can catch. A check that has run a Keras
    layer has TensorFlow loaded, so the export runs where TensorFlow is not.
    """
    return run_isolated("torch.onnx.export(dynamo=True)", export, module, args, True)


ISOLATED_TIMEOUT_S = 300.0  # an export or compile that has not answered by then never will


def run_isolated(what: str, fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` in the one spawned process kept for whatever imports Triton (torch.export, torch.compile too);
    a crash of that process is ExportedModelFailed naming ``what``."""
    global _POOL
    import multiprocessing
    import multiprocessing.util
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    if _POOL is None:
        _POOL = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
        # Shut down before interpreter teardown, which the pool's own callbacks outlive. Not with atexit: a
        # --jobs helper is a multiprocessing child, which runs no atexit callbacks and joins its children
        # before it exits, so an idle pool worker would keep it (and the check waiting on it) forever.
        # multiprocessing runs finalizers by exit priority before that join, in every process; above 10,
        # so that the pool's own queues (closed at 10) still carry the workers' stop signal.
        multiprocessing.util.Finalize(None, _end_pool, args=(_POOL, False), exitpriority=20)
    try:
        return _POOL.submit(fn, *args).result(timeout=ISOLATED_TIMEOUT_S)
    except BrokenProcessPool:
        _POOL = None
        raise ExportedModelFailed(f"{what} ended its process (a crash)") from None
    except TimeoutError:
        pool, _POOL = _POOL, None
        _end_pool(pool)
        raise ExportedModelFailed(f"{what} did not finish within {ISOLATED_TIMEOUT_S:g} s in its process") from None


def _end_pool(pool: Any, kill: bool = True) -> None:
    """Stop the pool's worker (killed: one past its time; else asked to stop, killed if it has not after
    10 s) and shut the pool down."""
    procs = list((getattr(pool, "_processes", None) or {}).values())
    if not kill:
        pool.shutdown(wait=False, cancel_futures=True)
        for proc in procs:
            proc.join(10)
    for proc in procs:
        if proc.is_alive():
            proc.kill()
            proc.join(5)
    pool.shutdown(wait=True, cancel_futures=True)


class _TorchOnnx(ConversionPath):
    framework = "torch.onnx"  # float32 only: ORT's CPU LSTM computes in float
    supports = {"activation": ("tanh",), "recurrent_activation": ("sigmoid",), "direction": ("forward",),
                "return_sequences": (True,)}
    supports_note = "the exported torch.nn.LSTM: fixed activations, every step returned, one direction"
    source: ClassVar[_NNLSTM]  # the PyTorch adapter whose module is exported
    dynamo: ClassVar[bool]

    def converted(self, data: CaseData) -> tuple[bytes, Built]:
        """(ONNX model, built torch layer, its inputs); exported once per exporter, loaded module and inputs."""
        built = self.source.build(data, "cpu", PRECISIONS.get("float32"))
        key = (str(self.dynamo), _digest(built.module, built.inputs))
        cached = _EXPORTS.get(key)
        if cached is None:
            inputs = built.inputs
            args = (inputs["x"],) if "h" not in inputs else (inputs["x"], (inputs["h"], inputs["c"]))
            try:
                module = built.module.eval()
                cached = export_isolated(module, args) if self.dynamo else export(module, args, False)
            except ConversionRefused as exc:
                cached = exc
            if len(_EXPORTS) >= _CACHE_LIMIT:
                _EXPORTS.pop(next(iter(_EXPORTS)))
            _EXPORTS[key] = cached
        if isinstance(cached, ConversionRefused):
            raise cached
        return cached, built

    def prepare(self, data: CaseData, device: str, precision: Precision, *, threads: int | None = None) -> Prepared:
        import onnxruntime as ort

        model, built = self.converted(data)
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1 if threads is None else threads
        options.log_severity_level = 4  # errors come back as the exception below
        try:
            session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001 - ORT raises its own pybind classes
            raise ExportedModelFailed(f"onnxruntime {ort.__version__} cannot load the exported model: "
                                      f"{first_line(exc)}") from None
        names = [i.name for i in session.get_inputs()]
        order = ["x"] + (["h", "c"] if "h" in built.inputs else [])
        feeds = {name: built.inputs[k].detach().numpy() for name, k in zip(names, order)}
        graph = graph_summary(model)

        def forward() -> Any:
            try:
                return session.run(None, feeds)
            except Exception as exc:  # noqa: BLE001
                raise ExportedModelFailed(f"onnxruntime {ort.__version__} cannot run the exported model "
                                          f"({graph}): {first_line(exc)}") from None

        def outputs() -> Outcome:
            y, h, c = forward()[:3]  # y (batch, time, proj or units); h_n, c_n (1, batch, ...)
            return Outcome(as_numpy(y), {"h": as_numpy(h[0]), "c": as_numpy(c[0])}, dict(built.shapes))

        return Prepared(forward, outputs, lambda want_grads: outputs(),
                        note=f"torch.onnx.export(dynamo={self.dynamo}) -> InferenceSession; graph: {graph}")


def _path(name: str, spec: str, source: _NNLSTM, dynamo: bool, doc: str, convention: str) -> type[_TorchOnnx]:
    """One exporter's path for one PyTorch layer, registered under ``name``. The dynamo exporter runs in a
    separate process (when named with --framework) and, as an export takes seconds, on the default case unless
    --matrix full."""
    extra = {"by_request": True, "matrix": "default case"} if dynamo else {}
    cls = type(f"TorchOnnx_{'dynamo' if dynamo else 'torchscript'}_{spec}", (_TorchOnnx,), {
        "name": name, "spec": spec, "source": source, "dynamo": dynamo, "doc": doc, "convention": convention,
        "__module__": __name__, **extra})
    return adapter(cls)


PATHS = [
    _path("torch.onnx.export(dynamo=False)->onnxruntime", "lstm", NNLSTMBatchFirst(), False,
          "torch.nn.LSTM(batch_first=True) exported by the TorchScript exporter, run by ONNX Runtime (CPU)",
          "torch.nn.LSTM(batch_first=True), weights as initializers, exported by torch.onnx.export(dynamo=False); "
          "the graph holds one ONNX LSTM node (gates i, o, f, c) between Transposes"),
    _path("torch.onnx.export(dynamo=True)->onnxruntime", "lstm", NNLSTMBatchFirst(), True,
          "torch.nn.LSTM(batch_first=True) exported by torch.export + onnxscript, run by ONNX Runtime (CPU)",
          "torch.nn.LSTM(batch_first=True), weights as initializers, exported by torch.onnx.export(dynamo=True); "
          "the graph holds one ONNX LSTM node (gates i, o, f, c)"),
    _path("torch.onnx.export(dynamo=False)->onnxruntime(proj_size)", "lstm_projection", NNLSTMProjection(), False,
          "torch.nn.LSTM(proj_size, batch_first=True) through the TorchScript exporter (which refuses projections)",
          "torch.nn.LSTM(proj_size=proj, batch_first=True) exported by torch.onnx.export(dynamo=False)"),
    _path("torch.onnx.export(dynamo=True)->onnxruntime(proj_size)", "lstm_projection", NNLSTMProjection(), True,
          "torch.nn.LSTM(proj_size, batch_first=True) exported by torch.export + onnxscript, run by ONNX Runtime",
          "torch.nn.LSTM(proj_size=proj, batch_first=True) exported by torch.onnx.export(dynamo=True)"),
]
