"""Keras -> TFLite converter -> LiteRT: ``keras.layers.LSTM`` (Keras 3) and ``tf_keras.layers.LSTM`` as shipped to
a phone.

The layer is built and loaded exactly as the Keras adapters build it (the
spec's ``keras`` layout, float32, the case's activations and ``go_backwards``),
put in a functional model whose inputs are ``x`` (and ``h0``, ``c0`` unless the
case starts from zeros) with the case's batch size fixed (the converter needs a
static element shape for the loop's tensor lists), and whose outputs ``y``,
``h``, ``c`` are named by identity ``Activation("linear")`` layers, converted by
``tf.lite.TFLiteConverter.from_keras_model`` (built-in ops only, no
optimisations) and run by the LiteRT interpreter (``ai_edge_litert``, XNNPACK
delegate as shipped). Inputs and outputs are matched by the signature runner's
names, never by position.

What the graph holds is in the report's note (the main subgraph's ops): a
``WHILE`` loop for both Keras versions here, not the fused
``UNIDIRECTIONAL_SEQUENCE_LSTM``. A conversion that raises is a skip with the
converter's error; a model the interpreter cannot load or run is a failed case
with its message. Each case's model is converted once and cached by (layer
kind, loaded weights, activations, options); tf-keras' conversion, 2-3 s
(it goes through a SavedModel), runs on the spec's default case only. (``from_concrete_functions`` with
Keras 3 keeps the weights as resource variables, and the model then fails at
invoke in ``READ_VARIABLE``; ``from_keras_model`` freezes them.)
"""
from __future__ import annotations

import contextlib
import importlib.util
import io
import logging
import warnings
from collections import Counter
from typing import Any, ClassVar


from ..check.oracle import CaseData
from ..check.precision import Precision
from .base import FRAMEWORKS, Adapter, Framework, Outcome, Prepared, adapter, as_numpy
from .keras_layers import KerasBuilt, KerasLSTM, convert_once
from .tf_keras_layers import TfKerasLSTM
from .torch_export import off_default
from .torch_onnx import ExportedModelFailed, _first_line, _quiet_fds

FRAMEWORKS.register("tflite", Framework("tflite", ("tensorflow", "keras", "ai_edge_litert"),
                                        "pip install ai-edge-litert (in 'lstmspec[all]')"))

_MODELS: dict[str, bytes | str] = {}  # digest -> TFLite flatbuffer, or why the converter refused
_CACHE_LIMIT = 64
_OUTPUTS = ("y", "h", "c")
_INPUTS = {"x": "x", "h": "h0", "c": "c0"}  # the model's input names (a name is used once in a model)


class ConverterRefused(Exception):
    """The converter raised for this configuration: reported as a skip with its message."""


def converter_message(exc: BaseException, limit: int = 240) -> str:
    """The converter's own error sentence from its MLIR dump ("... error: <sentence>"), else the first line."""
    for line in str(exc).splitlines():
        if "error: " in line:
            text = line.split("error: ", 1)[1].strip()
            if text.startswith("loc("):  # the MLIR location, nested parentheses, then ": "
                depth = 0
                for i, ch in enumerate(text):
                    depth += {"(": 1, ")": -1}.get(ch, 0)
                    if ch == ")" and depth == 0:
                        text = text[i + 1:].lstrip(": ")
                        break
            return text if len(text) <= limit else text[: limit - 3] + "..."
    return _first_line(exc, limit)


def ops_summary(interpreter: Any) -> str:
    """The main subgraph's op names with their counts, e.g. "WHILE, TRANSPOSE x2" (read before any delegate)."""
    counts = Counter(op["op_name"] for op in interpreter._get_ops_details())
    return ", ".join(op if n == 1 else f"{op} x{n}" for op, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


class _TfLite(Adapter):
    converts = True  # a conversion per case (about 0.4 s): the reduced matrix by default
    framework = "tflite"
    spec = "lstm"
    devices = ("cpu",)
    precisions = ("float32",)  # the converted model is float32
    gradients = False
    on_extending_specs = False
    source: ClassVar[KerasLSTM]  # the Keras adapter whose layer is converted
    package: ClassVar[str]  # the Keras package it needs
    default_case_only: ClassVar[str] = ""  # why only the spec's default case runs ("": the matrix it is given)
    convention = ("functional model, batch size fixed, outputs named y, h, c; TFLiteConverter.from_keras_model, "
                  "LiteRT interpreter; direction=reverse: go_backwards=True returns the outputs in processing "
                  "order, reversed along time so output t is the one at input position t")

    def _built(self, data: CaseData) -> tuple[bytes, KerasBuilt]:
        cached, built = convert_once(self.name, self.source, data, self._convert, _MODELS, _CACHE_LIMIT)
        if isinstance(cached, str):
            raise ConverterRefused(cached)
        return cached, built

    def _convert(self, tf: Any, built: KerasBuilt) -> bytes | str:
        """The TFLite model of the layer called on (x[, h, c]), or the converter's refusal as a sentence."""
        _, keras = self.source.modules()
        inputs = {n: keras.Input(tuple(leaf.shape[1:]), batch_size=leaf.shape[0], name=_INPUTS[n])
                  for n, leaf in built.leaves.items()}
        state = [inputs["h"], inputs["c"]] if "h" in inputs else None
        outputs = built.layer(inputs["x"], initial_state=state)
        # tf-keras names a signature's outputs after the layers that make them, Keras 3 after the dict's keys
        named = {n: keras.layers.Activation("linear", name=n)(t) for n, t in zip(_OUTPUTS, outputs)}
        model = keras.Model(list(inputs.values()), named)
        logger = logging.getLogger("tensorflow")
        level = logger.level
        logger.setLevel(logging.ERROR)
        try:
            with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), \
                    contextlib.redirect_stderr(io.StringIO()), _quiet_fds():
                warnings.simplefilter("ignore")
                return bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
        except Exception as exc:  # noqa: BLE001 - the converter raises ConverterError and others
            return f"tf.lite.TFLiteConverter (TensorFlow {tf.__version__}) refuses: {converter_message(exc)}"
        finally:
            logger.setLevel(level)

    def unsupported(self, data: CaseData, device: str, precision: Precision) -> str | None:
        if importlib.util.find_spec(self.package) is None:
            return f"{self.package} is not installed"
        reason = self.source.unsupported(data, device, precision)
        if reason:
            return reason
        off = off_default(data) if self.default_case_only else []
        if off:
            return (f"{self.name} runs the spec's default case only ({self.default_case_only}); "
                    f"this case has {', '.join(off)}")
        try:
            self._built(data)
        except ConverterRefused as exc:
            return str(exc)
        return None

    def prepare(self, data: CaseData, device: str, precision: Precision, *, threads: int | None = None) -> Prepared:
        import ai_edge_litert
        from ai_edge_litert.interpreter import Interpreter

        version = f"LiteRT {getattr(ai_edge_litert, '__version__', '?')}"
        model, built = self._built(data)
        try:
            with _quiet_fds():  # "INFO: Created TensorFlow Lite XNNPACK delegate for CPU." from C++
                interpreter = Interpreter(model_content=model, num_threads=1 if threads is None else threads or None)
                graph = ops_summary(interpreter)
                runner = interpreter.get_signature_runner()
        except Exception as exc:  # noqa: BLE001
            raise ExportedModelFailed(f"{version} cannot load the converted model: {_first_line(exc)}") from None
        signature = interpreter.get_signature_list()
        names = next(iter(signature.values()), {})
        feeds = {_INPUTS[n]: leaf.numpy() for n, leaf in built.leaves.items()}
        if sorted(names.get("inputs", [])) != sorted(feeds) or sorted(names.get("outputs", [])) != sorted(_OUTPUTS):
            raise ExportedModelFailed(f"the converted model's signature is {names}, but the model's inputs are "
                                      f"{', '.join(feeds)} and its outputs {', '.join(_OUTPUTS)}")
        backwards = data.return_sequences and built.layer.go_backwards
        shapes = {name: tuple(v.shape) for name, v in built.variables.items()}

        def forward() -> Any:
            try:
                with _quiet_fds():
                    return runner(**feeds)
            except Exception as exc:  # noqa: BLE001
                raise ExportedModelFailed(f"{version} cannot run the converted model ({graph}): "
                                          f"{_first_line(exc)}") from None

        def outputs() -> Outcome:
            result = forward()
            y = result["y"][:, ::-1] if backwards else result["y"]  # processing order -> input positions
            return Outcome(as_numpy(y), {"h": as_numpy(result["h"]), "c": as_numpy(result["c"])}, shapes)

        return Prepared(forward, outputs, lambda want_grads: outputs(),
                        note=f"TFLiteConverter.from_keras_model -> {version} interpreter; graph: {graph}")


@adapter
class Keras3TfLite(_TfLite):
    name = "keras.layers.LSTM->tflite->litert"
    source = KerasLSTM()
    package = "keras"
    doc = "keras.layers.LSTM (Keras 3) in a functional model converted by the TFLite converter, run by LiteRT (CPU)"


@adapter
class TfKerasTfLite(_TfLite):
    name = "tf_keras.layers.LSTM->tflite->litert"
    source = TfKerasLSTM()
    package = "tf_keras"
    default_case_only = "a tf-keras conversion takes 2-3 s: the converter saves the model as a SavedModel first"
    doc = "tf_keras.layers.LSTM (Keras 2) in a functional model converted by the TFLite converter, run by LiteRT (CPU)"
