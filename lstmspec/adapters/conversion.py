"""What every export and conversion path shares: its two outcomes besides a result, and the base of its adapter.

A path converts a framework layer (its ``source`` adapter builds and loads it)
and runs the converted model in another runtime. Two things can go wrong, and
they are reported differently: the converter refuses the configuration (a
documented limit: ``ConversionRefused``, a skip with the converter's message),
or it writes a model its runtime cannot load or run (``ExportedModelFailed``, a
failed case with the runtime's message).
"""
from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Iterator
from typing import Any, ClassVar

from ..check.oracle import CaseData
from ..check.precision import Precision
from ..check.results import FAIL
from .base import Adapter


class ConversionRefused(Exception):
    """The exporter or converter raised for this configuration: a documented refusal, reported as a skip."""


class ExportedModelFailed(Exception):
    """The converter wrote a model that its runtime cannot load or run: the case fails with the runtime's message."""

    result_status = FAIL


class ConversionPath(Adapter):
    """A ``source`` adapter's layer converted once per case and run by another runtime (CPU, float32)."""

    matrix = "reduced"  # a conversion per case
    devices = ("cpu",)
    precisions = ("float32",)  # the converted models are float32
    gradients = False
    on_extending_specs = False
    source: ClassVar[Any]  # the adapter whose layer is converted

    def converted(self, data: CaseData) -> tuple[Any, Any]:
        """(the converted model, the source's built layer); ConversionRefused where the converter refuses."""
        raise NotImplementedError

    def unsupported(self, data: CaseData, device: str, precision: Precision) -> str | None:
        """The source layer's own limits first, then the converter's refusal (converting once, cached)."""
        reason = self.source.unsupported(data, device, precision)
        if reason:
            return reason
        try:
            self.converted(data)
        except ConversionRefused as exc:
            return str(exc)
        return None


def first_line(exc: BaseException, limit: int = 240) -> str:
    """The exception's first line, without the TorchScript exporter's graph dump ("[Caused by ...")."""
    lines = str(exc).strip().splitlines()
    text = (lines[0] if lines else "").split(" [Caused by")[0].strip()
    text = text if len(text) <= limit else text[: limit - 3] + "..."
    return f"{type(exc).__name__}: {text}".strip()


@contextlib.contextmanager
def quiet_fds() -> Iterator[None]:
    """File descriptors 1 and 2 to /dev/null: exporters and converters print from C++ (the failing graph, INFO)."""
    import os
    import sys

    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 1)
        os.dup2(null, 2)
        yield
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, null):
            os.close(fd)


def graph_summary(model: bytes) -> str:
    """The op types of an ONNX model's graph with their counts, e.g. "LSTM, Transpose x2"."""
    import onnx

    counts = Counter(node.op_type for node in onnx.load_from_string(model).graph.node)
    return ", ".join(op if n == 1 else f"{op} x{n}" for op, n in sorted(counts.items(), key=lambda kv: kv[0] != "LSTM"))


__all__ = ["ConversionPath", "ConversionRefused", "ExportedModelFailed", "first_line", "graph_summary", "quiet_fds"]
