"""ONNX Runtime: the ONNX ``LSTM`` operator (CPU, float32), with and without peepholes.

The weights are graph inputs named after the spec's ``onnx`` layout tensors
(``W`` (1, 4*units, input), ``R`` (1, 4*units, units), ``B`` (1, 8*units),
``P`` (1, 3*units); their gate orders are written in the spec file, not here),
fed in the positions the operator defines: X, W, R, B, sequence_lens,
initial_h, initial_c, P. ``sequence_lens`` is never fed.

Every size except ``hidden_size`` (a required attribute in ORT) is a symbolic
dim, so one ``InferenceSession`` serves every case with the same graph
attributes; sessions are cached per (layout, direction, activations,
peepholes, initial state, units) because creating one costs far more than
running a case.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..check.oracle import CaseData
from ..check.precision import Precision
from .base import Adapter, Outcome, adapter, as_numpy

#: Newest version of the LSTM operator (22 widened the types; the semantics are those of 14, which added ``layout``).
OPSET = 22
#: The operator's inputs in their fixed positions; a layout tensor must be one of these.
_INPUTS = ("X", "W", "R", "B", "sequence_lens", "initial_h", "initial_c", "P")
_RANKS = {"W": 3, "R": 3, "B": 2, "P": 2}


@dataclass(frozen=True)
class OnnxActivation:
    """An ONNX RNN activation name and, for those that take them, its alpha and beta."""

    op: str
    alpha: float | None = None
    beta: float | None = None


#: The spec's activation names (lstmspec/expr/functions.py) as ONNX RNN activations.
ONNX_ACTIVATIONS = {
    "sigmoid": OnnxActivation("Sigmoid"),
    "tanh": OnnxActivation("Tanh"),
    "relu": OnnxActivation("Relu"),
    # ONNX HardSigmoid is clip(alpha*x + beta, 0, 1); spelled out rather than left to the defaults.
    "hard_sigmoid_keras2": OnnxActivation("HardSigmoid", 0.2, 0.5),  # clip(0.2x + 1/2, 0, 1)
    "hard_sigmoid": OnnxActivation("HardSigmoid", 1.0 / 6.0, 0.5),  # Keras 3: relu6(x + 3)/6 = clip(x/6 + 1/2, 0, 1)
    "linear": OnnxActivation("Affine", 1.0, 0.0),  # alpha*x + beta
}


@dataclass(frozen=True)
class GraphKey:
    """Everything that changes the ONNX graph; sizes other than ``units`` do not."""

    layout: int  # the operator's ``layout`` attribute: 0 time-major, 1 batch-major
    direction: str
    activations: tuple[OnnxActivation, OnnxActivation, OnnxActivation]  # f, g, h
    tensors: tuple[str, ...]  # the layout's tensor names, e.g. ("W", "R", "B") or (..., "P")
    initial_state: bool
    units: int


class SessionUnsupported(Exception):
    """ORT refuses the graph as a documented limitation of its kernel (not a bug in the graph)."""


_SESSIONS: dict[GraphKey, Any] = {}  # GraphKey -> InferenceSession or SessionUnsupported


def onnx_activations(attrs: dict[str, Any]) -> tuple[OnnxActivation, OnnxActivation, OnnxActivation] | str:
    """ONNX ``activations`` [f, g, h] = [recurrent_activation, activation, activation], or why not."""
    chosen = []
    for name in ("recurrent_activation", "activation", "activation"):
        value = attrs[name]
        if value not in ONNX_ACTIVATIONS:
            return f"{name}={value}: no ONNX RNN activation is mapped to it (mapped: {', '.join(ONNX_ACTIVATIONS)})"
        chosen.append(ONNX_ACTIVATIONS[value])
    return tuple(chosen)  # type: ignore[return-value]


def build_model(key: GraphKey) -> Any:
    """The one-node ONNX model for ``key``, checked by ``onnx.checker``."""
    import onnx
    from onnx import TensorProto, helper

    unknown = [t for t in key.tensors if t not in _RANKS]
    if unknown:
        raise ValueError(f"layout tensors {unknown} are not ONNX LSTM inputs; expected some of {', '.join(_RANKS)}")
    time_batch = ["seq_length", "batch_size"] if key.layout == 0 else ["batch_size", "seq_length"]
    state = ["num_directions", "batch_size"] if key.layout == 0 else ["batch_size", "num_directions"]
    shapes: dict[str, list[Any]] = {"X": time_batch + ["input_size"]}
    for name in key.tensors:
        shapes[name] = ["num_directions"] + [f"{name}_dim{i}" for i in range(1, _RANKS[name])]
    if key.initial_state:
        shapes["initial_h"] = shapes["initial_c"] = state + ["hidden_size"]
    inputs = [name if name in shapes else "" for name in _INPUTS]
    while inputs[-1] == "":
        inputs.pop()
    attrs: dict[str, Any] = dict(hidden_size=key.units, direction=key.direction, layout=key.layout,
                                 activations=[a.op for a in key.activations])
    # alpha/beta lists are consumed in order by the activations that take them.
    alphas = [a.alpha for a in key.activations if a.alpha is not None]
    betas = [a.beta for a in key.activations if a.beta is not None]
    if alphas:
        attrs.update(activation_alpha=alphas, activation_beta=betas)
    node = helper.make_node("LSTM", inputs, ["Y", "Y_h", "Y_c"], **attrs)
    y_shape = (time_batch[:1] + ["num_directions"] + time_batch[1:] if key.layout == 0
               else time_batch + ["num_directions"]) + ["hidden_size"]

    def info(name: str, shape: list[Any]) -> Any:
        return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)

    graph = helper.make_graph(
        [node], "lstm",
        [info(n, shapes[n]) for n in inputs if n],
        [info("Y", y_shape), info("Y_h", state + ["hidden_size"]), info("Y_c", state + ["hidden_size"])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    onnx.checker.check_model(model, full_check=True)
    return model


def session(key: GraphKey) -> Any:
    """A cached CPU ``InferenceSession`` for ``key``; raises SessionUnsupported for ORT's own limits."""
    cached = _SESSIONS.get(key)
    if cached is None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        # 4 (fatal only), not 3: a refused graph would also print its error on
        # stderr, and every error comes back as the exception handled here.
        options.log_severity_level = 4
        try:
            cached = ort.InferenceSession(build_model(key).SerializeToString(), options,
                                          providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001 - ORT raises its own pybind classes
            sentence = re.search(r"[^.]*\bnot supported\b[^.]*\.", str(exc))
            if sentence is None:
                raise
            cached = SessionUnsupported(f"onnxruntime {ort.__version__} CPU LSTM kernel: {sentence.group(0).strip()}")
        _SESSIONS[key] = cached
    if isinstance(cached, SessionUnsupported):
        raise cached
    return cached


class _OnnxLSTM(Adapter):
    framework = "onnxruntime"
    spec = "lstm"
    layout = "onnx"  # the spec's layout; the operator's own ``layout`` attribute is ``onnx_layout``
    devices = ("cpu",)
    # ORT's CPU LSTM computes in float only: a double graph loads but its run fails with "LSTM
    # operator does not support double yet", and a float16 graph gets Casts to float inserted.
    precisions = ("float32",)
    gradients = False
    supports = {"return_sequences": (True,)}
    supports_note = "ONNX's LSTM always returns every step (Y)"
    onnx_layout = 0
    convention = "direction=reverse: Y[t] is the output at input position t (aligned with the input)"

    def _key(self, data: CaseData) -> GraphKey | str:
        activations = onnx_activations(data.attrs)
        if isinstance(activations, str):
            return activations
        tensors = tuple(t.name for t in data.spec.layout(self.layout).tensors)
        return GraphKey(self.onnx_layout, data.attrs.get("direction", "forward"), activations, tensors,
                        not data.zero_state, int(data.state["h"].shape[-1]))

    def unsupported(self, data: CaseData, device: str, precision: Precision) -> str | None:
        key = self._key(data)
        if isinstance(key, str):
            return key
        try:
            session(key)
        except SessionUnsupported as exc:
            return str(exc)
        return None

    def run(self, data: CaseData, device: str, precision: Precision, want_grads: bool) -> Outcome:
        key = self._key(data)
        if isinstance(key, str):  # unsupported() says so first when the runner calls
            raise ValueError(f"{self.name} cannot run this case: {key}")
        tensors = data.spec.layout(self.layout).to_framework(data.params, data.rng("bias split"))
        feeds = {name: np.ascontiguousarray(t, dtype=np.float32) for name, t in tensors.items()}
        major = (1, 0, 2) if self.onnx_layout == 0 else (0, 1, 2)  # data.x is (batch, time, input)
        feeds["X"] = np.ascontiguousarray(data.x.transpose(major), dtype=np.float32)
        if key.initial_state:
            for name, state in (("initial_h", "h"), ("initial_c", "c")):
                # (num_directions=1, batch, units), or (batch, 1, units) batch-major
                value = data.state[state][None] if self.onnx_layout == 0 else data.state[state][:, None]
                feeds[name] = np.ascontiguousarray(value, dtype=np.float32)
        y, h, c = session(key).run(["Y", "Y_h", "Y_c"], feeds)
        if self.onnx_layout == 0:  # Y (time, 1, batch, units), Y_h (1, batch, units)
            y, h, c = y[:, 0].transpose(1, 0, 2), h[0], c[0]
        else:  # Y (batch, time, 1, units), Y_h (batch, 1, units)
            y, h, c = y[:, :, 0], h[:, 0], c[:, 0]
        shapes = {name: tuple(feeds[name].shape) for name in tensors}
        return Outcome(as_numpy(y), {"h": as_numpy(h), "c": as_numpy(c)}, shapes)


@adapter
class OnnxLSTM(_OnnxLSTM):
    name = "onnxruntime.LSTM"
    doc = "ONNX LSTM operator in ONNX Runtime (CPU), layout=0: X (time, batch, input), no peepholes"


@adapter
class OnnxLSTMBatchMajor(_OnnxLSTM):
    name = "onnxruntime.LSTM(layout=1)"
    on_extending_specs = False
    doc = "ONNX LSTM operator in ONNX Runtime (CPU), layout=1: X (batch, time, input), no peepholes"
    onnx_layout = 1


@adapter
class OnnxLSTMPeephole(_OnnxLSTM):
    name = "onnxruntime.LSTM+peepholes"
    spec = "lstm_peephole"
    doc = "ONNX LSTM operator with P in ONNX Runtime (CPU), layout=0: X (time, batch, input)"


@adapter
class OnnxLSTMPeepholeBatchMajor(_OnnxLSTM):
    name = "onnxruntime.LSTM+peepholes(layout=1)"
    spec = "lstm_peephole"
    doc = "ONNX LSTM operator with P in ONNX Runtime (CPU), layout=1: X (batch, time, input)"
    onnx_layout = 1
