"""Keras -> tf2onnx -> ONNX Runtime: ``keras.layers.LSTM`` (Keras 3) and ``tf_keras.layers.LSTM`` converted to ONNX.

The layer is built and loaded exactly as the Keras adapters build it (the
spec's ``keras`` layout, float32, the case's activations and
``go_backwards``), wrapped in a ``tf.function`` whose inputs are ``x`` (and
``h0``, ``c0`` unless the case starts from zeros), converted by
``tf2onnx.convert.from_function`` and run by an ONNX Runtime CPU session.
What is checked is tf2onnx's rewrite of the Keras loop: into one ONNX ``LSTM``
node where it recognises the pattern (sigmoid/tanh, Keras 2's hard_sigmoid as
``HardSigmoid(0.2, 0.5)``; ``go_backwards`` as ``ReverseSequence`` + ``LSTM``),
into a ``Loop`` otherwise. The report notes the graph's ops. A conversion that
raises is a skip with tf2onnx's message; a model ONNX Runtime cannot load or
run is a failed case with its message. Each case's model is converted once and
cached by (layer kind, loaded weights, activations, options).
"""
from __future__ import annotations

import contextlib
import importlib.util
import io
import logging
from typing import Any, ClassVar


from ..check.oracle import CaseData
from ..check.precision import Precision
from .base import FRAMEWORKS, Adapter, Framework, Outcome, Prepared, adapter, as_numpy
from .keras_layers import KerasBuilt, KerasLSTM, convert_once
from .tf_keras_layers import TfKerasLSTM
from .torch_onnx import ExportedModelFailed, _first_line, graph_summary

FRAMEWORKS.register("tf2onnx", Framework("tf2onnx", ("tensorflow", "keras", "tf2onnx", "onnxruntime"),
                                         "pip install tf2onnx onnxruntime (in 'lstmspec[all]')"))

OPSET = 17
_MODELS: dict[str, bytes | str] = {}  # digest -> ONNX model, or why tf2onnx refused
_CACHE_LIMIT = 64


class _Tf2Onnx(Adapter):
    converts = True  # a conversion per case: the reduced matrix by default
    framework = "tf2onnx"
    spec = "lstm"
    devices = ("cpu",)
    precisions = ("float32",)  # the converted graph is float32; ORT's CPU LSTM computes in float only
    gradients = False
    on_extending_specs = False
    source: ClassVar[KerasLSTM]  # the Keras adapter whose layer is converted
    package: ClassVar[str]  # the Keras package it needs
    convention = ("direction=reverse: go_backwards=True returns the outputs in processing order; they are "
                  "reversed along time, so output t is the one at input position t")

    def _built(self, data: CaseData) -> tuple[bytes, KerasBuilt]:
        cached, built = convert_once(self.name, self.source, data, self._convert, _MODELS, _CACHE_LIMIT)
        if isinstance(cached, str):
            raise ValueError(cached)
        return cached, built

    @staticmethod
    def _convert(tf: Any, built: KerasBuilt) -> bytes | str:
        """The ONNX model of the layer called on (x[, h, c]), or tf2onnx's refusal as a sentence."""
        import tf2onnx

        from ..quiet import quiet_native_stderr

        layer = built.layer
        names = list(built.leaves)
        signature = [tf.TensorSpec([None, *built.leaves[n].shape[1:]], tf.float32, name=n) for n in names]

        @tf.function(input_signature=signature)
        def call(*args: Any) -> Any:
            inputs = dict(zip(names, args))
            state = [inputs["h"], inputs["c"]] if "h" in inputs else None
            return layer(inputs["x"], initial_state=state)

        logger = logging.getLogger("tf2onnx")
        level = logger.level
        logger.setLevel(logging.ERROR)
        try:
            # grappler's C++ INFO lines (devices.cc, single_machine.cc) go to descriptor 2 directly
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()), \
                    quiet_native_stderr():
                proto, _ = tf2onnx.convert.from_function(call, input_signature=signature, opset=OPSET)
        except Exception as exc:  # noqa: BLE001 - tf2onnx raises many kinds
            return f"tf2onnx {tf2onnx.__version__} refuses: {_first_line(exc)}"
        finally:
            logger.setLevel(level)
        return proto.SerializeToString()

    def unsupported(self, data: CaseData, device: str, precision: Precision) -> str | None:
        if importlib.util.find_spec(self.package) is None:
            return f"{self.package} is not installed"
        reason = self.source.unsupported(data, device, precision)
        if reason:
            return reason
        try:
            self._built(data)
        except ValueError as exc:
            return str(exc)
        return None

    def prepare(self, data: CaseData, device: str, precision: Precision, *, threads: int | None = None) -> Prepared:
        import onnxruntime as ort

        model, built = self._built(data)
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1 if threads is None else threads
        options.log_severity_level = 4
        try:
            session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001
            raise ExportedModelFailed(f"onnxruntime {ort.__version__} cannot load the converted model: "
                                      f"{_first_line(exc)}") from None
        feeds = {i.name: built.leaves[n].numpy() for i, n in zip(session.get_inputs(), built.leaves)}
        graph = graph_summary(model)
        backwards = data.return_sequences and built.layer.go_backwards
        shapes = {name: tuple(v.shape) for name, v in built.variables.items()}

        def forward() -> Any:
            try:
                return session.run(None, feeds)
            except Exception as exc:  # noqa: BLE001
                raise ExportedModelFailed(f"onnxruntime {ort.__version__} cannot run the converted model "
                                          f"({graph}): {_first_line(exc)}") from None

        def outputs() -> Outcome:
            y, h, c = forward()[:3]
            y = y[:, ::-1] if backwards else y  # processing order -> input positions
            return Outcome(as_numpy(y), {"h": as_numpy(h), "c": as_numpy(c)}, shapes)

        return Prepared(forward, outputs, lambda want_grads: outputs(),
                        note=f"tf2onnx.convert.from_function (opset {OPSET}) -> InferenceSession; graph: {graph}")


@adapter
class Keras3Tf2Onnx(_Tf2Onnx):
    name = "keras.layers.LSTM->tf2onnx->onnxruntime"
    source = KerasLSTM()
    package = "keras"
    doc = "keras.layers.LSTM (Keras 3) in a tf.function converted by tf2onnx, run by ONNX Runtime (CPU)"


@adapter
class TfKerasTf2Onnx(_Tf2Onnx):
    name = "tf_keras.layers.LSTM->tf2onnx->onnxruntime"
    source = TfKerasLSTM()
    package = "tf_keras"
    doc = "tf_keras.layers.LSTM (Keras 2) in a tf.function converted by tf2onnx, run by ONNX Runtime (CPU)"
