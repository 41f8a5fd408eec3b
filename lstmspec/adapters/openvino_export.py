"""``torch.onnx.export`` -> OpenVINO: the ONNX model of ``torch.nn.LSTM`` compiled by OpenVINO for the CPU.

The model is the one ``torch_onnx`` exports (TorchScript exporter, weights as
initializers, one ONNX ``LSTM`` node; the same cache), read by
``openvino.Core.read_model`` and compiled for ``"CPU"`` twice:

* with ``INFERENCE_PRECISION_HINT = f32``: held to the float32 bound;
* with OpenVINO's own default for this CPU (bf16 where the CPU has AMX or
  AVX512-BF16, f32 elsewhere): a row checked at that precision and held to its
  bound, run with ``--dtype bfloat16`` (or ``float16``) where that is the default.
"""
from __future__ import annotations

import functools
from typing import Any

from ..check.oracle import CaseData
from ..check.precision import Precision
from .base import FRAMEWORKS, Framework, Outcome, Prepared, adapter, as_numpy
from .conversion import ExportedModelFailed, first_line, graph_summary
from .torch_layers import NNLSTMBatchFirst
from .torch_onnx import _TorchOnnx

FRAMEWORKS.register("openvino", Framework("openvino", ("torch", "onnx", "openvino"), "pip install openvino"))

#: OpenVINO's inference precisions as lstmspec's precision names.
_PRECISIONS = {"f32": "float32", "bf16": "bfloat16", "f16": "float16"}


@functools.cache
def default_hint() -> str:
    """OpenVINO's default INFERENCE_PRECISION_HINT on this CPU, as "f32", "bf16" or "f16"."""
    import openvino as ov

    return str(ov.Core().get_property("CPU", "INFERENCE_PRECISION_HINT").get_type_name())


class _OpenVino(_TorchOnnx):
    framework = "openvino"
    spec = "lstm"
    source = NNLSTMBatchFirst()
    dynamo = False
    hint: str | None = "f32"  # None: OpenVINO's default for the device

    def unsupported(self, data: CaseData, device: str, precision: Precision) -> str | None:
        if self.hint is None:
            hint = default_hint()
            if _PRECISIONS.get(hint) != precision.name:
                return (f"OpenVINO's default precision on this CPU is {hint}: this row runs at "
                        f"{_PRECISIONS.get(hint, hint)} (--dtype {_PRECISIONS.get(hint, hint)})")
        return super().unsupported(data, device, precision)

    def prepare(self, data: CaseData, device: str, precision: Precision, *, threads: int | None = None) -> Prepared:
        import openvino as ov

        onnx_model, built = self.converted(data)
        config: dict[str, Any] = {"INFERENCE_NUM_THREADS": 1 if threads is None else threads}
        if self.hint is not None:
            config["INFERENCE_PRECISION_HINT"] = self.hint
        try:
            core = ov.Core()
            compiled = core.compile_model(core.read_model(model=onnx_model), "CPU",
                                          {k: v for k, v in config.items() if v})
        except Exception as exc:  # noqa: BLE001 - OpenVINO raises its own classes
            raise ExportedModelFailed(f"openvino {ov.__version__} cannot compile the exported model: "
                                      f"{first_line(exc)}") from None
        inputs = [built.inputs["x"].detach().numpy()]
        if "h" in built.inputs:
            inputs += [built.inputs[k].detach().numpy() for k in ("h", "c")]
        used = str(compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name())
        graph = graph_summary(onnx_model)

        def forward() -> Any:
            return compiled(inputs)

        def outputs() -> Outcome:
            result = forward()
            y, h, c = (result[o] for o in compiled.outputs[:3])
            return Outcome(as_numpy(y), {"h": as_numpy(h[0]), "c": as_numpy(c[0])}, dict(built.shapes))

        return Prepared(forward, outputs, lambda want_grads: outputs(),
                        note=f"torch.onnx.export(dynamo={self.dynamo}) -> openvino CPU, inference precision {used}; "
                             f"graph: {graph}")


@adapter
class OpenVinoF32(_OpenVino):
    name = "torch.onnx.export(dynamo=False)->openvino(f32)"
    precisions = ("float32",)
    hint = "f32"
    doc = "torch.nn.LSTM exported to ONNX (TorchScript exporter), compiled by OpenVINO for the CPU in f32"
    convention = ("torch.nn.LSTM(batch_first=True) exported by torch.onnx.export(dynamo=False), compiled by "
                  "OpenVINO with INFERENCE_PRECISION_HINT=f32")


@adapter
class OpenVinoDefault(_OpenVino):
    name = "torch.onnx.export(dynamo=False)->openvino(default precision)"
    precisions = ("float32", "bfloat16", "float16")
    hint = None
    doc = "torch.nn.LSTM exported to ONNX, compiled by OpenVINO for the CPU at the device's default precision"

    def own_precision(self) -> str | None:
        return _PRECISIONS.get(default_hint())
    convention = ("torch.nn.LSTM(batch_first=True) exported by torch.onnx.export(dynamo=False), compiled by "
                  "OpenVINO with its default INFERENCE_PRECISION_HINT for this CPU, held to that precision's bound")


@adapter
class OpenVinoDynamoF32(_OpenVino):
    name = "torch.onnx.export(dynamo=True)->openvino(f32)"
    dynamo = True
    by_request = True  # the dynamo exporter runs in a separate process
    matrix = "default case"  # an export takes seconds
    precisions = ("float32",)
    hint = "f32"
    doc = "torch.nn.LSTM exported to ONNX by the dynamo exporter, compiled by OpenVINO for the CPU in f32"
    convention = ("torch.nn.LSTM(batch_first=True) exported by torch.onnx.export(dynamo=True), compiled by "
                  "OpenVINO with INFERENCE_PRECISION_HINT=f32")
