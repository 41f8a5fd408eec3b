"""Keras 3 layers on the TensorFlow backend (CPU): ``keras.layers.LSTM`` and ``ConvLSTM1D/2D/3D``.

Weights reach the layer only through the spec's ``keras`` layout and are matched
to the layer's variables by name, so a wrong gate order or shape in a spec file
fails here instead of being patched over::

    # keras.layers.LSTM: kernel (input, 4*units), recurrent_kernel (units, 4*units), bias (4*units,)
    # ConvLSTM{1,2,3}D:  kernel (k..., channels, 4*filters), recurrent_kernel (k..., filters, 4*filters)
    # gates [i, f, c, o] in both; one bias, no split

TensorFlow and Keras are imported on the first run, not when the adapter is
registered, so ``lstmspec --help`` and the torch-only paths stay fast.
"""
from __future__ import annotations

import functools
import os
from contextlib import nullcontext
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from ..check.oracle import CaseData
from ..check.precision import Precision
from ..errors import ShapeError
from ..quiet import quiet_native_stderr
from ..registry import Registry
from .base import Adapter, Outcome, Prepared, adapter, as_numpy

_modules: tuple[Any, Any] | None = None


def _tf_keras() -> tuple[Any, Any]:
    """(tensorflow, keras), imported once with TF's C++ logging quiet and TF32 off."""
    global _modules
    if _modules is None:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        os.environ.setdefault("KERAS_BACKEND", "tensorflow")
        with quiet_native_stderr():  # TensorFlow's absl INFO lines (oneDNN, CPU features) at import
            import keras
            import tensorflow as tf

            tf.config.list_physical_devices()  # where a CPU-only machine logs "failed call to cuInit"

        # Never inherit TF32: TensorFlow enables it by default on Ampere and
        # later GPUs, which would make a "float32" run a 10-bit-mantissa one.
        tf.config.experimental.enable_tensor_float_32_execution(False)
        # Bidirectional rebuilds its backward layer from the config: a custom
        # activation must be registered to deserialize.
        keras.saving.register_keras_serializable(package="lstmspec", name="hard_sigmoid_keras2")(_hard_sigmoid_keras2)
        _modules = (tf, keras)
    return _modules


def _hard_sigmoid_keras2(x: Any) -> Any:
    """Keras 2's hard_sigmoid, clip(0.2*x + 0.5, 0, 1); Keras 3 replaced it with relu6(x + 3)/6."""
    from keras import ops

    return ops.clip(x * 0.2 + 0.5, 0.0, 1.0)


#: The spec's activation names (``lstmspec.expr.functions``) as Keras 3 takes them.
KERAS_ACTIVATIONS: Registry[str | Callable[[Any], Any]] = Registry("Keras activation")
for _name, _keras in [
    ("sigmoid", "sigmoid"),
    ("tanh", "tanh"),
    ("hard_sigmoid", "hard_sigmoid"),  # relu6(x + 3)/6 = clip(x/6 + 1/2, 0, 1)
    ("hard_sigmoid_keras2", _hard_sigmoid_keras2),  # not a Keras 3 activation: passed as a callable
    ("relu", "relu"),
    ("linear", "linear"),
]:
    KERAS_ACTIVATIONS.register(_name, _keras)

_ACTIVATION_ATTRS = ("activation", "recurrent_activation")

# Quoted from keras/src/layers/rnn/conv_lstm.py (ConvLSTMCell.__init__), which raises ValueError.
_KERAS_STRIDES_DILATION = "Specifying `strides > 1` is not compatible with `dilation_rate > 1`."


def _variable_name(variable: Any) -> str:
    """``kernel`` from Keras 3's path ``lstm/lstm_cell/kernel`` (or tf.keras's ``.../kernel:0``)."""
    return str(getattr(variable, "path", None) or variable.name).rsplit("/", 1)[-1].split(":", 1)[0]


def _last_step_index(data: CaseData) -> int:
    """The input position whose output the case compares when only the last output is returned."""
    steps = data.dims[data.spec.recurrence.axis]
    probe = np.arange(steps).reshape((1,) * data.time_axis + (steps,))
    return int(data.last_step(probe).ravel()[0]) % steps


@dataclass
class KerasBuilt:
    """A Keras layer built and loaded for one case, and what it is called with."""

    layer: Any
    variables: dict[str, Any]  # this layer's (or half's) variables by the layout's tensor names
    leaves: dict[str, Any]  # "x" and, unless the case starts from zeros, "h", "c": what gradients are taken of
    fixed: dict[str, Any] = field(default_factory=dict)  # inputs no gradient is taken of (a Bidirectional's other half)

    def feeds(self) -> dict[str, Any]:
        """Every input the layer is called with, by name: what an exported or converted model takes."""
        return {**self.leaves, **self.fixed}


class _KerasRecurrent(Adapter):
    """Build the layer, load the layout's tensors by variable name; check eagerly, differentiate with a tape.

    The check runs eagerly, not through ``tf.function``: every case builds a
    new layer with new shapes, so a traced function is traced anew per case,
    which measured 6-7 times slower (ConvLSTM2D: ~0.8 s against ~0.12 s a case
    with gradients). A timing calls the same ``call`` through ``tf.function``.
    """

    framework = "keras"
    layout = "keras"
    devices = ("cpu",)
    precisions = ("float64", "float32")
    gradients = True
    convention = ("direction=reverse: go_backwards=True returns the outputs in processing order; "
                  "they are reversed along time, so output t is the one at input position t")
    layer_class: ClassVar[str]  # attribute of keras.layers
    package: ClassVar[str] = "keras"  # the package modules() imports the layers from
    outputs: ClassVar[tuple[str, ...]] = ("y", "h", "c")  # what invoke() returns, in order (names in converted models)

    def unsupported(self, data: CaseData, device: str, precision: Precision) -> str | None:
        if not data.return_sequences and data.spec.recurrence.reversed(data.attrs) and _last_step_index(data) != 0:
            return ("direction=reverse with return_sequences=False: Keras returns the output of the step processed "
                    "last (input position 0), but the check compares the one at the last input position "
                    "(CaseData.last_step)")
        for attr in _ACTIVATION_ATTRS:
            value = data.attrs.get(attr)
            if value is not None and value not in KERAS_ACTIVATIONS:
                return f"{attr}={value}: no Keras activation for it (known: {', '.join(KERAS_ACTIVATIONS)})"
        _, keras = self.modules()
        if keras.backend.backend() != "tensorflow":
            return (f"Keras runs on the {keras.backend.backend()} backend (KERAS_BACKEND); "
                    f"this adapter checks the TensorFlow backend")
        return None

    def modules(self) -> tuple[Any, Any]:
        """(tensorflow, the Keras package whose layers are checked): Keras 3 here, tf-keras in tf_keras_layers."""
        return _tf_keras()

    @staticmethod
    def watched(variable: Any) -> Any:
        """The tf.Variable a gradient tape watches for a layer weight (Keras 3 wraps it: ``.value``)."""
        return variable.value

    def layer_options(self, data: CaseData) -> dict[str, Any]:
        """Constructor arguments that depend on the layer kind (sizes, convolution options)."""
        raise NotImplementedError

    def activation(self, name: str) -> str | Callable[[Any], Any]:
        """The Keras activation for the spec's activation ``name``."""
        return KERAS_ACTIVATIONS.get(name)

    def make_layer(self, data: CaseData, precision: Precision) -> Any:
        _, keras = self.modules()
        layer = getattr(keras.layers, self.layer_class)(
            **self.layer_options(data),
            activation=self.activation(data.attrs.get("activation", "tanh")),
            recurrent_activation=self.activation(data.attrs.get("recurrent_activation", "sigmoid")),
            return_sequences=data.return_sequences,
            return_state=True,
            go_backwards=data.spec.recurrence.reversed(data.attrs),
            dtype=precision.dtype,
            # Every weight is overwritten by load(); zeros skip the orthogonal
            # initializer's QR decomposition (half the cost of building the layer).
            kernel_initializer="zeros",
            recurrent_initializer="zeros",
            bias_initializer="zeros",
        )
        layer.build(data.x.shape)
        return layer

    def load(self, data: CaseData, layer: Any) -> dict[str, Any]:
        """Assign the layout's tensors to the layer's variables of the same name; {name: variable}."""
        tensors = data.spec.layout(self.layout).to_framework(data.params, data.rng("bias split"))
        variables = {_variable_name(v): v for v in layer.weights}
        if set(variables) != set(tensors):
            raise ShapeError(f"layout {self.layout} of spec {data.spec.name} has tensors {', '.join(tensors)}, "
                             f"but {self.name} has weights {', '.join(variables)}")
        for name, variable in variables.items():
            value = tensors[name]
            if tuple(variable.shape) != value.shape:
                raise ShapeError(f"layout {self.layout} of spec {data.spec.name} gives {name} the shape "
                                 f"{value.shape}, but {self.name}'s {name} is {tuple(variable.shape)}")
            # Keras 3 names the dtype ("float64"); a tf-keras variable holds a tf.DType
            variable.assign(value.astype(np.dtype(getattr(variable.dtype, "as_numpy_dtype", variable.dtype))))
        return variables

    def compiled(self, data: CaseData) -> bool:
        """Run this case as one XLA-compiled function instead of eagerly."""
        return False

    def build(self, data: CaseData, precision: Precision) -> KerasBuilt:
        """The layer, built and loaded, and its inputs as constants."""
        tf, _ = self.modules()
        layer = self.make_layer(data, precision)
        variables = self.load(data, layer)
        leaves = {"x": tf.constant(data.x, dtype=precision.dtype)}
        if not data.zero_state:
            leaves.update({k: tf.constant(data.state[k], dtype=precision.dtype) for k in ("h", "c")})
        return KerasBuilt(layer, variables, leaves)

    def invoke(self, layer: Any, inputs: dict[str, Any]) -> list[Any]:
        """The layer called on ``inputs`` (named as ``KerasBuilt.feeds``): its outputs as Keras returns them.

        The same call serves the check (eager tensors), a ``tf.function`` that
        tf2onnx converts and a functional model for the TFLite converter
        (symbolic inputs), so that every path calls the layer one way.
        """
        state = [inputs["h"], inputs["c"]] if "h" in inputs else None
        return list(layer(inputs["x"], initial_state=state))

    def arrange(self, raw: list[Any], data: CaseData) -> tuple[Any, dict[str, Any]]:
        """(y, {"h", "c"}) in the spec's order from ``invoke``'s outputs (TF tensors or numpy arrays alike):
        go_backwards outputs come in processing order, and the spec's output t is at input position t.
        Outputs after y are the final states; a converted model that returns y alone gives none."""
        y, *states = raw
        if data.return_sequences and data.spec.recurrence.reversed(data.attrs):
            y = y[:, ::-1]  # Keras sequences are (batch, time, ...)
        return y, dict(zip(("h", "c"), states))

    def call(self, tf: Any, built: KerasBuilt, data: CaseData) -> tuple[Any, dict[str, Any]]:
        """(y, {"h", "c"}) in the spec's order: outputs at input positions."""
        return self.arrange(self.invoke(built.layer, built.feeds()), data)

    def prepare(self, data: CaseData, device: str, precision: Precision, *, threads: int | None = None) -> Prepared:
        """The check runs the layer eagerly (one trace per case would cost more than the case);
        a timing calls it through ``tf.function``, traced in the timer's warm-up: eagerly, Keras
        runs the recurrence one Python-dispatched op at a time, which times the interpreter."""
        tf, _ = self.modules()
        with tf.device("/CPU:0"):
            built = self.build(data, precision)
        sources = {**built.leaves, **{k: self.watched(v) for k, v in built.variables.items()}}
        shapes = {name: tuple(v.shape) for name, v in built.variables.items()}

        def call() -> tuple[Any, dict[str, Any]]:
            return self.call(tf, built, data)

        def gradients() -> tuple[Any, dict[str, Any], dict[str, Any]]:
            with tf.GradientTape(watch_accessed_variables=False) as tape:
                tape.watch(list(sources.values()))
                y, final = call()
                loss = self._loss(tf, data, y, final)
            return y, final, dict(zip(sources, tape.gradient(loss, list(sources.values()))))

        def to_outcome(y: Any, final: dict[str, Any], grads: dict[str, Any] | None = None) -> Outcome:
            arrays = {k: as_numpy(g) if g is not None else np.zeros(tuple(sources[k].shape))
                      for k, g in (grads or {}).items()}
            return Outcome(as_numpy(y), {k: as_numpy(v) for k, v in final.items()}, dict(shapes), arrays)

        def outcome(want_grads: bool) -> Outcome:
            run: Callable[[], Any] = gradients if want_grads else lambda: (*call(), {})
            quiet = nullcontext()
            if self.compiled(data):
                run = tf.function(run, jit_compile=True)
                quiet = quiet_native_stderr()  # XLA's INFO lines at its first compile ("XLA service ... initialized")
            with tf.device("/CPU:0"), quiet:
                return to_outcome(*run())

        traced = functools.cache(tf.function)  # made on the first timed call, traced on its first call

        def forward() -> Any:
            with tf.device("/CPU:0"):
                return traced(call)()

        def forward_backward() -> Any:
            with tf.device("/CPU:0"):
                return traced(gradients)()

        return Prepared(forward, lambda: to_outcome(*forward()), outcome, forward_backward,
                        note="through tf.function (graph), traced in the warm-up")

    @staticmethod
    def _loss(tf: Any, data: CaseData, y: Any, final: dict[str, Any]) -> Any:
        """L = sum(y * Gy) + sum(h_T * Gh) + sum(c_T * Gc), in float64 whatever the layer's dtype."""
        gy = data.cotangents["y"] if data.return_sequences else data.last_step(data.cotangents["y"])
        loss = tf.reduce_sum(tf.cast(y, tf.float64) * gy)
        for k, v in final.items():
            loss += tf.reduce_sum(tf.cast(v, tf.float64) * data.cotangents[k])
        return loss


@adapter
class KerasLSTM(_KerasRecurrent):
    name = "keras.layers.LSTM"
    spec = "lstm"
    layer_class = "LSTM"
    doc = "keras.layers.LSTM, TensorFlow backend, CPU (the generic loop; cuDNN is used only on GPUs)"

    def layer_options(self, data: CaseData) -> dict[str, Any]:
        return {"units": data.state["h"].shape[-1]}


class _KerasConvLSTM(_KerasRecurrent):
    rank: ClassVar[int]

    def unsupported(self, data: CaseData, device: str, precision: Precision) -> str | None:
        strides, dilation = tuple(data.attrs["strides"]), tuple(data.attrs["dilation"])
        if max(strides) > 1 and max(dilation) > 1:
            return f"strides={strides} with dilation={dilation}: Keras raises \"{_KERAS_STRIDES_DILATION}\""
        if data.attrs["data_format"] == "channels_first" and device == "cpu" and self.rank < 3:
            # ConvLSTM1D runs a Conv2D on NCHW too (tf.nn.conv1d adds a unit axis).
            # Keras compiles NCDHW 3-d convolutions with XLA, so ConvLSTM3D does run.
            return ("channels_first: TensorFlow's CPU convolution supports only channels_last (NHWC); "
                    "Conv2D raises UnimplementedError for NCHW")
        return super().unsupported(data, device, precision)

    def compiled(self, data: CaseData) -> bool:
        # Keras runs an NCDHW Conv3D on the CPU through a tf.function(jit_compile=True)
        # created anew at every call, so eagerly each of the 8 convolutions of
        # every step is compiled again (about 20 s a case); traced once, XLA
        # compiles the layer once (about 3 s).
        return self.rank == 3 and data.attrs["data_format"] == "channels_first"

    def layer_options(self, data: CaseData) -> dict[str, Any]:
        channels_first = data.attrs["data_format"] == "channels_first"
        h = data.state["h"]
        return {
            "filters": h.shape[1] if channels_first else h.shape[-1],
            "kernel_size": data.params["W_i"].shape[:-2],  # (k..., channels, filters)
            "strides": tuple(data.attrs["strides"]),
            "padding": data.attrs["padding"],
            "dilation_rate": tuple(data.attrs["dilation"]),
            "data_format": data.attrs["data_format"],
        }


@adapter
class KerasConvLSTM1D(_KerasConvLSTM):
    name = "keras.layers.ConvLSTM1D"
    spec = "convlstm1d"
    layer_class = "ConvLSTM1D"
    rank = 1
    doc = "keras.layers.ConvLSTM1D, TensorFlow backend, CPU"


@adapter
class KerasConvLSTM2D(_KerasConvLSTM):
    name = "keras.layers.ConvLSTM2D"
    spec = "convlstm2d"
    layer_class = "ConvLSTM2D"
    rank = 2
    doc = "keras.layers.ConvLSTM2D, TensorFlow backend, CPU"


@adapter
class KerasConvLSTM3D(_KerasConvLSTM):
    name = "keras.layers.ConvLSTM3D"
    spec = "convlstm3d"
    layer_class = "ConvLSTM3D"
    rank = 3
    doc = "keras.layers.ConvLSTM3D, TensorFlow backend, CPU (channels_first through Keras' XLA fallback)"


class _KerasBidirectionalHalf(_KerasRecurrent):
    """One half of ``keras.layers.Bidirectional(LSTM(...))``, checked on its own.

    The other half gets unrelated random weights and a zero cotangent. With
    merge_mode="concat" the output is [forward, backward] on the last axis;
    Keras re-aligns the backward half to input positions (unlike a bare
    go_backwards layer), and that is what the check proves.
    """

    spec = "lstm"
    layer_class = "LSTM"
    outputs = ("y", "h_forward", "c_forward", "h_backward", "c_backward")
    half: ClassVar[int] = 0
    on_extending_specs = False
    untimed = "one half of a Bidirectional layer: its timing would be that of both directions"

    def layer_options(self, data: CaseData) -> dict[str, Any]:
        return {"units": data.state["h"].shape[-1]}

    def build(self, data: CaseData, precision: Precision) -> KerasBuilt:
        tf, keras = self.modules()
        k = self.half
        other = data.rng("other half")
        inner = keras.layers.LSTM(
            data.state["h"].shape[-1], activation=self.activation(data.attrs.get("activation", "tanh")),
            recurrent_activation=self.activation(data.attrs.get("recurrent_activation", "sigmoid")),
            return_sequences=True, return_state=True, dtype=precision.dtype)
        layer = keras.layers.Bidirectional(inner, merge_mode="concat", dtype=precision.dtype)
        layer.build(data.x.shape)
        halves = [layer.forward_layer, layer.backward_layer]
        variables = self.load(data, halves[k])
        for v in halves[1 - k].weights:
            v.assign(other.uniform(-0.5, 0.5, tuple(v.shape)).astype(np.dtype(getattr(v.dtype, "as_numpy_dtype", v.dtype))))
        leaves = {"x": tf.constant(data.x, dtype=precision.dtype)}
        theirs = {f"{s}_other": tf.constant(other.uniform(-0.5, 0.5, data.state[s].shape), dtype=precision.dtype)
                  for s in ("h", "c")}
        if not data.zero_state:
            leaves.update({s: tf.constant(data.state[s], dtype=precision.dtype) for s in ("h", "c")})
        return KerasBuilt(layer, variables, leaves, theirs if not data.zero_state else {})

    def invoke(self, layer: Any, inputs: dict[str, Any]) -> list[Any]:
        state = None
        if "h" in inputs:
            mine, theirs = [inputs["h"], inputs["c"]], [inputs["h_other"], inputs["c_other"]]
            state = mine + theirs if self.half == 0 else theirs + mine
        return list(layer(inputs["x"], initial_state=state))

    def arrange(self, raw: list[Any], data: CaseData) -> tuple[Any, dict[str, Any]]:
        k, units = self.half, data.state["h"].shape[-1]
        y, h_f, c_f, h_b, c_b = raw
        return y[..., k * units:(k + 1) * units], {"h": (h_f, h_b)[k], "c": (c_f, c_b)[k]}


@adapter
class KerasBidirectionalForward(_KerasBidirectionalHalf):
    name = "keras.layers.Bidirectional(LSTM)/forward"
    half = 0
    doc = "the forward half of keras.layers.Bidirectional(keras.layers.LSTM(...)), merge_mode concat"
    convention = "Bidirectional, merge_mode=concat: y[..., :units] is the forward layer, the first returned h, c"
    supports = {"direction": ("forward",), "return_sequences": (True,)}


@adapter
class KerasBidirectionalBackward(_KerasBidirectionalHalf):
    name = "keras.layers.Bidirectional(LSTM)/backward"
    half = 1
    doc = "the backward half of keras.layers.Bidirectional(keras.layers.LSTM(...)), merge_mode concat"
    convention = ("Bidirectional, merge_mode=concat: y[..., units:] is the backward layer re-aligned to input "
                  "positions (Bidirectional reverses it back, unlike a bare go_backwards layer)")
    supports = {"direction": ("reverse",), "return_sequences": (True,)}
