"""Keras -> TFLite converter -> LiteRT: Keras 3 and tf-keras ``LSTM`` and ``ConvLSTM2D`` as shipped to a phone.

The layer is built and loaded exactly as the Keras adapters build it (see
``keras_convert``) and called through the Keras adapter's ``invoke`` in a
functional model whose inputs are ``x`` (and ``h0``, ``c0`` unless the case
starts from zeros) with the case's batch size fixed (the converter needs a
static element shape for the loop's tensor lists), and whose outputs are named
by identity ``Activation("linear")`` layers (``y``, ``h``, ``c``), converted by
``tf.lite.TFLiteConverter.from_keras_model`` (built-in ops only, no
optimisations) and run by the LiteRT interpreter (``ai_edge_litert``, XNNPACK
delegate as shipped). Inputs and outputs are matched by the signature runner's
names, never by position.

What the graph holds is in the report's note (the main subgraph's ops). Both
Keras versions' layers become a ``WHILE`` loop, except one case: a tf-keras
``LSTM`` whose final states the model does not return is fused into the one
``UNIDIRECTIONAL_SEQUENCE_LSTM`` op (a ``REVERSE_V2`` before it for
``go_backwards``), TFLite's own LSTM kernel; that is its own path
(``tf_keras.layers.LSTM(outputs only)->tflite->litert``), which compares ``y``
alone. tf-keras conversions go through a SavedModel (2-3 s each), so the
tf-keras paths run the spec's default case unless ``--matrix full``.
(``from_concrete_functions`` with Keras 3 keeps the weights as resource
variables, and the model then fails at invoke in ``READ_VARIABLE``;
``from_keras_model`` freezes them.)
"""
from __future__ import annotations

import contextlib
import io
import logging
import warnings
from collections import Counter
from typing import Any, ClassVar

from ..check.oracle import CaseData
from .base import FRAMEWORKS, Framework, adapter
from .conversion import ExportedModelFailed, first_line, quiet_fds
from .keras_convert import KerasConversion, Run, input_name
from .keras_layers import KerasBuilt, KerasConvLSTM2D, KerasLSTM, _KerasRecurrent
from .tf_keras_layers import TfKerasConvLSTM2D, TfKerasLSTM

FRAMEWORKS.register("tflite", Framework("tflite", ("tensorflow", "keras", "ai_edge_litert"),
                                        "pip install ai-edge-litert (in 'lstmspec[all]')"))


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
    return first_line(exc, limit)


def ops_summary(interpreter: Any) -> str:
    """The main subgraph's op names with their counts, e.g. "WHILE, TRANSPOSE x2" (read before any delegate)."""
    counts = Counter(op["op_name"] for op in interpreter._get_ops_details())
    return ", ".join(op if n == 1 else f"{op} x{n}" for op, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


class _TfLite(KerasConversion):
    framework = "tflite"
    _models = {}
    returned: ClassVar[int | None] = None  # how many of the layer's outputs the model returns (None: all)
    convention = ("functional model, batch size fixed, outputs named y, h, c; TFLiteConverter.from_keras_model, "
                  "LiteRT interpreter; direction=reverse: go_backwards=True returns the outputs in processing "
                  "order, reversed along time so output t is the one at input position t")

    def outputs(self) -> tuple[str, ...]:
        """The model's output names: the layer's outputs it returns."""
        return self.source.outputs[: self.returned]

    def convert(self, tf: Any, built: KerasBuilt, data: CaseData) -> bytes | str:
        """The TFLite model of the layer called on its feeds, or the converter's refusal as a sentence."""
        _, keras = self.source.modules()
        inputs = {n: keras.Input(tuple(feed.shape[1:]), batch_size=feed.shape[0], name=input_name(n))
                  for n, feed in built.feeds().items()}
        raw = self.source.invoke(built.layer, inputs)
        # tf-keras names a signature's outputs after the layers that make them, Keras 3 after the dict's keys
        named = {n: keras.layers.Activation("linear", name=n)(t) for n, t in zip(self.outputs(), raw)}
        model = keras.Model(list(inputs.values()), named)
        logger = logging.getLogger("tensorflow")
        level = logger.level
        logger.setLevel(logging.ERROR)
        try:
            with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), \
                    contextlib.redirect_stderr(io.StringIO()), quiet_fds():
                warnings.simplefilter("ignore")
                return bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
        except Exception as exc:  # noqa: BLE001 - the converter raises ConverterError and others
            return f"tf.lite.TFLiteConverter (TensorFlow {tf.__version__}) refuses: {converter_message(exc)}"
        finally:
            logger.setLevel(level)

    def load(self, model: bytes, built: KerasBuilt, data: CaseData, threads: int | None) -> tuple[Run, str, str]:
        import ai_edge_litert
        from ai_edge_litert.interpreter import Interpreter

        runtime = f"LiteRT {getattr(ai_edge_litert, '__version__', '?')} interpreter"
        try:
            with quiet_fds():  # "INFO: Created TensorFlow Lite XNNPACK delegate for CPU." from C++
                interpreter = Interpreter(model_content=model, num_threads=1 if threads is None else threads or None)
                graph = ops_summary(interpreter)
                runner = interpreter.get_signature_runner()
        except Exception as exc:  # noqa: BLE001
            raise ExportedModelFailed(f"{runtime} cannot load the converted model: {first_line(exc)}") from None
        names = next(iter(interpreter.get_signature_list().values()), {})
        feeds = {input_name(n): feed.numpy() for n, feed in built.feeds().items()}
        outputs = self.outputs()
        if sorted(names.get("inputs", [])) != sorted(feeds) or sorted(names.get("outputs", [])) != sorted(outputs):
            raise ExportedModelFailed(f"the converted model's signature is {names}, but the model's inputs are "
                                      f"{', '.join(feeds)} and its outputs {', '.join(outputs)}")

        def run() -> list[Any]:
            with quiet_fds():
                result = runner(**feeds)
            return [result[n] for n in outputs]

        return run, graph, runtime

    def note(self) -> str:
        return "TFLiteConverter.from_keras_model"


def _path(source: _KerasRecurrent, **extra: Any) -> type[_TfLite]:
    """The TFLite path of one Keras adapter, registered under "SOURCE->tflite->litert" unless ``extra`` names it."""
    name = extra.pop("name", f"{source.name}->tflite->litert")
    cls = type(f"TfLite_{type(source).__name__}", (_TfLite,), {
        "name": name, "source": source, "supports": source.supports, "__module__": __name__,
        "doc": f"{source.name} in a functional model converted by the TFLite converter, run by LiteRT (CPU)",
        **extra})
    return adapter(cls)


# Without --matrix full, Keras 3's LSTM runs the reduced matrix; tf-keras (which converts through a SavedModel,
# 2-3 s) and the ConvLSTMs (a slow loop) the spec's default case.
_SLOW = {"matrix": "default case"}
PATHS = [_path(KerasLSTM())] + [_path(cls(), **_SLOW) for cls in (TfKerasLSTM, KerasConvLSTM2D, TfKerasConvLSTM2D)]
PATHS.append(_path(
    TfKerasLSTM(), name="tf_keras.layers.LSTM(outputs only)->tflite->litert", returned=1, final_states=(), **_SLOW,
    doc="tf_keras.layers.LSTM in a functional model that returns its outputs only, which the TFLite converter fuses "
        "into UNIDIRECTIONAL_SEQUENCE_LSTM, run by LiteRT (CPU)",
    convention=("functional model returning the layer's outputs only (no final states: that is what lets the "
                "converter fuse a tf-keras LSTM into UNIDIRECTIONAL_SEQUENCE_LSTM), so h_T and c_T are not "
                "compared; batch size fixed; go_backwards outputs reversed back to input positions")))
