"""Keras -> tf2onnx -> ONNX Runtime: Keras 3 and tf-keras ``LSTM``, ``Bidirectional(LSTM)`` and ``ConvLSTM1D/2D/3D``
converted to ONNX.

The layer is built and loaded exactly as the Keras adapters build it (see
``keras_convert``), called through the Keras adapter's ``invoke`` inside a
``tf.function`` whose inputs are ``x`` (and ``h``, ``c`` unless the case starts
from zeros; a Bidirectional half also its other half's), converted by
``tf2onnx.convert.from_function`` and run by an ONNX Runtime CPU session.
What is checked is tf2onnx's rewrite of the Keras loop: into one ONNX ``LSTM``
node where it recognises the pattern (sigmoid/tanh, Keras 2's hard_sigmoid as
``HardSigmoid(0.2, 0.5)``; ``go_backwards`` as ``ReverseSequence`` + ``LSTM``;
``Bidirectional`` as one ``LSTM`` with ``direction="bidirectional"``), into a
``Loop`` otherwise (every ConvLSTM). The report notes the graph's ops.
"""
from __future__ import annotations

import contextlib
import io
import logging
from typing import Any

from ..check.oracle import CaseData
from .base import FRAMEWORKS, Framework, adapter
from .conversion import ExportedModelFailed, first_line, graph_summary
from .keras_convert import KerasConversion, Run
from .keras_layers import (KerasBidirectionalBackward, KerasBidirectionalForward, KerasBuilt, KerasConvLSTM1D,
                           KerasConvLSTM2D, KerasConvLSTM3D, KerasLSTM, _KerasRecurrent)
from .tf_keras_layers import (TfKerasBidirectionalBackward, TfKerasBidirectionalForward, TfKerasConvLSTM1D,
                              TfKerasConvLSTM2D, TfKerasConvLSTM3D, TfKerasLSTM)

FRAMEWORKS.register("tf2onnx", Framework("tf2onnx", ("tensorflow", "keras", "tf2onnx", "onnxruntime"),
                                         "pip install tf2onnx onnxruntime (in 'lstmspec[all]')"))

OPSET = 17


class _Tf2Onnx(KerasConversion):
    framework = "tf2onnx"
    _models = {}
    convention = ("the layer called as lstmspec's Keras adapter calls it, in a tf.function converted by "
                  "tf2onnx; direction=reverse: go_backwards=True returns the outputs in processing order, "
                  "reversed along time so output t is the one at input position t")

    def convert(self, tf: Any, built: KerasBuilt, data: CaseData) -> bytes | str:
        """The ONNX model of the layer called on its feeds, or tf2onnx's refusal as a sentence."""
        import tf2onnx

        from ..quiet import quiet_native_stderr

        feeds = built.feeds()
        names = list(feeds)
        signature = [tf.TensorSpec([None, *feeds[n].shape[1:]], tf.float32, name=n) for n in names]
        source, layer = self.source, built.layer

        @tf.function(input_signature=signature)
        def call(*args: Any) -> Any:
            return source.invoke(layer, dict(zip(names, args)))

        logger = logging.getLogger("tf2onnx")
        level = logger.level
        logger.setLevel(logging.ERROR)
        try:
            # grappler's C++ INFO lines (devices.cc, single_machine.cc) go to descriptor 2 directly
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()), \
                    quiet_native_stderr():
                proto, _ = tf2onnx.convert.from_function(call, input_signature=signature, opset=OPSET)
        except Exception as exc:  # noqa: BLE001 - tf2onnx raises many kinds
            return f"tf2onnx {tf2onnx.__version__} refuses: {first_line(exc)}"
        finally:
            logger.setLevel(level)
        return proto.SerializeToString()

    def load(self, model: bytes, built: KerasBuilt, data: CaseData, threads: int | None) -> tuple[Run, str, str]:
        import onnxruntime as ort

        runtime = f"onnxruntime {ort.__version__}"
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1 if threads is None else threads
        options.log_severity_level = 4
        try:
            session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001
            raise ExportedModelFailed(f"{runtime} cannot load the converted model: {first_line(exc)}") from None
        feeds = built.feeds()
        names = [i.name for i in session.get_inputs()]
        if sorted(names) != sorted(feeds):
            raise ExportedModelFailed(f"the converted model's inputs are {', '.join(names)}, but the layer's are "
                                      f"{', '.join(feeds)}")
        arrays = {n: v.numpy() for n, v in feeds.items()}
        return (lambda: session.run(None, arrays)), graph_summary(model), runtime

    def note(self) -> str:
        return f"tf2onnx.convert.from_function (opset {OPSET})"


def _path(source: _KerasRecurrent, **extra: Any) -> type[_Tf2Onnx]:
    """The tf2onnx path of one Keras adapter, registered under "SOURCE->tf2onnx->onnxruntime"."""
    cls = type(f"Tf2Onnx_{type(source).__name__}", (_Tf2Onnx,), {
        "name": f"{source.name}->tf2onnx->onnxruntime", "source": source, "supports": source.supports,
        "doc": f"{source.name} in a tf.function converted by tf2onnx, run by ONNX Runtime (CPU)",
        "__module__": __name__, **extra})
    return adapter(cls)


# Without --matrix full, Keras 3's LSTM runs the reduced matrix; the rest the spec's default case in each direction
# they support: a ConvLSTM converts to a Loop (1-2 s a case), a tf-keras conversion takes about a second.
_SLOW = {"matrix": "default case"}
PATHS = [_path(KerasLSTM())]
PATHS += [_path(cls(), **_SLOW) for cls in (
    TfKerasLSTM, KerasBidirectionalForward, KerasBidirectionalBackward, TfKerasBidirectionalForward,
    TfKerasBidirectionalBackward, KerasConvLSTM1D, KerasConvLSTM2D, KerasConvLSTM3D, TfKerasConvLSTM1D,
    TfKerasConvLSTM2D, TfKerasConvLSTM3D)]
