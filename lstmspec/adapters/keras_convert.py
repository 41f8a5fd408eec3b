"""What the Keras conversion paths share (tf2onnx, the TFLite converter): build through the Keras adapter, convert
once, run the converted model, arrange its outputs as the Keras adapter arranges the layer's.

A conversion path is an adapter wrapped around a Keras adapter (its ``source``):
the layer is built and loaded by ``source.build`` (the spec's ``keras`` layout,
float32, the case's activations and options), called by ``source.invoke`` inside
whatever the converter takes (a ``tf.function``, a functional model), and the
converted model's outputs are put in the spec's order by ``source.arrange``, the
same code that arranges the layer's own outputs in ``lstmspec check``. So a
layer kind (LSTM, Bidirectional, ConvLSTM) is converted by writing nothing but
its name in a path's list of sources.

Each case's model is converted once and cached by (path, attributes, options,
loaded weights, input shapes): a conversion takes seconds. A converter that
raises is a skip with its message (``ConversionRefused``); a model the runtime
cannot load or run is a failed case with the runtime's message
(``ExportedModelFailed``).
"""
from __future__ import annotations

import hashlib
import importlib.util
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from ..check.oracle import CaseData
from ..check.precision import PRECISIONS, Precision
from .base import Outcome, Prepared, as_numpy
from .conversion import ConversionPath, ConversionRefused, ExportedModelFailed, first_line
from .keras_layers import KerasBuilt, _KerasRecurrent

Run = Callable[[], list[Any]]  # the converted model called on the case's feeds: raw outputs as numpy, in order


class KerasConversion(ConversionPath):
    """A Keras layer (``source``) converted by one converter and run by its runtime (CPU, float32)."""

    source: ClassVar[_KerasRecurrent]  # the Keras adapter whose layer is converted
    cache_limit: ClassVar[int] = 64
    _models: ClassVar[dict[str, Any]]  # digest -> converted model, or the converter's refusal (a str); per path kind

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if getattr(cls, "source", None) is not None:
            cls.spec = cls.source.spec

    def convert(self, tf: Any, built: KerasBuilt, data: CaseData) -> Any:
        """The converted model of ``built.layer`` called through ``source.invoke``, or the refusal as a str."""
        raise NotImplementedError

    def load(self, model: Any, built: KerasBuilt, data: CaseData, threads: int | None) -> tuple[Run, str, str]:
        """(run, what the model's graph holds, the runtime and its version) for a converted model."""
        raise NotImplementedError

    def converted(self, data: CaseData) -> tuple[Any, KerasBuilt]:
        """``data``'s converted model (converted on first use, then cached) and the source layer it came from."""
        tf, _ = self.source.modules()
        with tf.device("/CPU:0"):
            built = self.source.build(data, PRECISIONS.get("float32"))
        digest = hashlib.sha256(f"{self.name}|{sorted(data.attrs.items())}|{data.case.options}".encode())
        for key, variable in sorted(built.variables.items()):
            digest.update(key.encode() + np.asarray(variable.numpy()).tobytes())
        for key, feed in sorted(built.feeds().items()):
            digest.update(key.encode() + str(tuple(feed.shape)).encode())
        key, models = digest.hexdigest(), type(self)._models
        if key not in models:
            if len(models) >= self.cache_limit:
                models.pop(next(iter(models)))
            models[key] = self.convert(tf, built, data)
        if isinstance(models[key], str):
            raise ConversionRefused(models[key])
        return models[key], built

    def unsupported(self, data: CaseData, device: str, precision: Precision) -> str | None:
        if importlib.util.find_spec(self.source.package) is None:
            return f"{self.source.package} is not installed"
        return super().unsupported(data, device, precision)

    def arrange(self, raw: list[Any], data: CaseData) -> tuple[Any, dict[str, Any]]:
        """The converted model's outputs in the spec's order, as the source arranges its layer's."""
        return self.source.arrange(raw, data)

    def prepare(self, data: CaseData, device: str, precision: Precision, *, threads: int | None = None) -> Prepared:
        model, built = self.converted(data)
        run, graph, runtime = self.load(model, built, data, threads)
        shapes = {name: tuple(v.shape) for name, v in built.variables.items()}

        def forward() -> list[Any]:
            try:
                return run()
            except ExportedModelFailed:
                raise
            except Exception as exc:  # noqa: BLE001 - each runtime raises its own classes
                raise ExportedModelFailed(f"{runtime} cannot run the converted model ({graph}): "
                                          f"{first_line(exc)}") from None

        def outputs() -> Outcome:
            y, final = self.arrange(forward(), data)
            return Outcome(as_numpy(y), {k: as_numpy(v) for k, v in final.items()}, shapes)

        return Prepared(forward, outputs, lambda want_grads: outputs(), note=f"{self.note()} -> {runtime}; graph: {graph}")

    def note(self) -> str:
        """How the layer is converted, for the report (e.g. "tf2onnx.convert.from_function (opset 17)")."""
        return type(self).__name__


def input_name(feed: str) -> str:
    """A converted model's input name for a feed: "x", and "h0", "c0" for initial states (the outputs are h, c)."""
    return feed if feed == "x" else f"{feed}0"


__all__ = ["KerasConversion", "input_name"]
