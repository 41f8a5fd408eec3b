"""``lstmspec defaults SPEC``: what each installed framework layer computes when its options are left alone.

A model moved between frameworks with default arguments changes its math
where their defaults differ: tf-keras' ``ConvLSTM2D`` uses
``recurrent_activation="hard_sigmoid"`` where Keras 3 uses ``"sigmoid"``;
``torch.nn.LSTM`` and the ONNX ``LSTM`` operator read time-major input
where Keras reads batch-major. The defaults are read from the installed
packages themselves (``inspect.signature`` of the layer, the overloads of
``torch.nn.LSTM.__init__``, the ONNX operator schema), never written here,
so the table follows the installed versions. Each is set beside the spec's
own default and marked where the two differ.

    $ lstmspec defaults convlstm2d
    $ lstmspec defaults lstm --format json
    $ lstmspec defaults --all -o reports/defaults.md
"""
from __future__ import annotations

import importlib
import inspect
import json
import typing
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from .spec.model import Spec

SCHEMA = "lstmspec-defaults"
VERSION = 1
NOT_SET = "-"
_NO_DEFAULT = object()  # an ONNX attribute whose schema states no default


# ------------------------------------------------------------ what a default means
@dataclass(frozen=True)
class Meaning:
    """A framework parameter read as one of the spec's settings: ``canonical`` and the value it amounts to."""

    canonical: str  # "activation", "direction", "time_major", ... (the spec's attribute where it has one)
    value: Callable[[Any], str] = str


def _flag(true: str, false: str) -> Callable[[Any], str]:
    return lambda v: true if v else false


def _keras_data_format(module: str) -> Callable[[Any], str]:
    """Keras' ``data_format=None`` is the package's ``image_data_format()`` (channels_last unless configured)."""

    def resolve(v: Any) -> str:
        if v is not None:
            return str(v)
        config = importlib.import_module(module)
        return f"{config.image_data_format()} (None: image_data_format())"

    return resolve


def _activation(renamed: dict[str, str]) -> Callable[[Any], str]:
    """A framework's activation name as lstmspec's function of the same math (lstmspec/expr/functions.py)."""
    return lambda v: renamed.get(str(v), str(v))


# Keras 2's "hard_sigmoid" is clip(0.2*x + 0.5, 0, 1); Keras 3's (lstmspec's hard_sigmoid) is clip(x/6 + 0.5, 0, 1)
_KERAS2_ACTIVATIONS = {"hard_sigmoid": "hard_sigmoid_keras2"}

_KERAS: dict[str, Meaning] = {
    "activation": Meaning("activation"),
    "recurrent_activation": Meaning("recurrent_activation"),
    "use_bias": Meaning("bias"),
    "bias_initializer": Meaning("bias initialiser"),
    "unit_forget_bias": Meaning("forget-gate bias initialiser", _flag("ones (unit_forget_bias)", "bias_initializer")),
    "go_backwards": Meaning("direction", _flag("reverse", "forward")),
    "time_major": Meaning("time_major", _flag("time-major", "batch-major")),
    "padding": Meaning("padding"),
}
_TORCH: dict[str, Meaning] = {
    "bias": Meaning("bias"),
    "batch_first": Meaning("time_major", _flag("batch-major", "time-major")),
    "bidirectional": Meaning("direction", _flag("bidirectional", "forward")),
    "proj_size": Meaning("projection", lambda v: "none" if not v else str(v)),
}
_ONNX: dict[str, Meaning] = {
    "direction": Meaning("direction"),
    "layout": Meaning("time_major", lambda v: "time-major" if v == 0 else "batch-major"),
    "input_forget": Meaning("input_forget", lambda v: "coupled (f = 1 - i)" if v else "none"),
    "activations": Meaning("activation"),
    "clip": Meaning("clip"),
}


def _spec_value(spec: Spec, canonical: str) -> str | None:
    """The spec's default for ``canonical``; None where the spec has no such setting (initialisers)."""
    if canonical in spec.attributes:
        return str(spec.attributes[canonical].default)
    if canonical == "time_major":
        shape = [d.render() for d in spec.first_input.shape]
        axis = spec.recurrence.axis
        if axis not in shape:
            return None
        return "time-major" if shape.index(axis) == 0 else "batch-major"
    if canonical == "projection":
        return "proj" if "proj" in spec.dims else "none"
    if canonical == "bias":
        return "True" if any(name.startswith("b_") for name in spec.params) else "False"
    if canonical == "input_forget":
        return "none"
    if canonical == "data_format":
        return "channels_last"  # spec shapes are channels-last unless a data_format attribute says otherwise
    return None


def _differs(framework: str, spec: str | None) -> bool:
    if spec is None or framework == NOT_SET:
        return False
    if spec == "proj":
        return framework == "none"
    return framework.split(" (")[0] != spec


# ---------------------------------------------------------------- the layers
@dataclass(frozen=True)
class Layer:
    """A framework layer and the specs it implements; where its defaults are read from."""

    framework: str  # distribution whose version is reported (torch, keras, tf-keras, onnx)
    path: str  # importable name, e.g. "keras.layers.ConvLSTM2D"
    specs: tuple[str, ...]
    meanings: dict[str, Meaning]
    reader: str = "signature"  # "signature", "torch_overloads" or "onnx_schema"


_TF_KERAS: dict[str, Meaning] = {
    **_KERAS,
    "activation": Meaning("activation", _activation(_KERAS2_ACTIVATIONS)),
    "recurrent_activation": Meaning("recurrent_activation", _activation(_KERAS2_ACTIVATIONS)),
}


def _conv(meanings: dict[str, Meaning], module: str) -> dict[str, Meaning]:
    return {**meanings, "data_format": Meaning("data_format", _keras_data_format(module))}


LAYERS: tuple[Layer, ...] = (
    Layer("torch", "torch.nn.LSTM", ("lstm", "lstm_projection"), _TORCH, "torch_overloads"),
    Layer("torch", "torch.nn.LSTMCell", ("lstm",), _TORCH),
    Layer("keras", "keras.layers.LSTM", ("lstm",), _KERAS),
    Layer("keras", "keras.layers.ConvLSTM1D", ("convlstm1d",), _conv(_KERAS, "keras.config")),
    Layer("keras", "keras.layers.ConvLSTM2D", ("convlstm2d",), _conv(_KERAS, "keras.config")),
    Layer("keras", "keras.layers.ConvLSTM3D", ("convlstm3d",), _conv(_KERAS, "keras.config")),
    Layer("tf-keras", "tf_keras.layers.LSTM", ("lstm",), _TF_KERAS),
    Layer("tf-keras", "tf_keras.layers.ConvLSTM1D", ("convlstm1d",), _conv(_TF_KERAS, "tf_keras.backend")),
    Layer("tf-keras", "tf_keras.layers.ConvLSTM2D", ("convlstm2d",), _conv(_TF_KERAS, "tf_keras.backend")),
    Layer("tf-keras", "tf_keras.layers.ConvLSTM3D", ("convlstm3d",), _conv(_TF_KERAS, "tf_keras.backend")),
    Layer("onnx", "onnx LSTM operator", ("lstm", "lstm_peephole"), _ONNX, "onnx_schema"),
)
_MODULES = {"torch": "torch", "keras": "keras", "tf-keras": "tf_keras", "onnx": "onnx"}


def _import(framework: str) -> Any | None:
    import os

    from .quiet import quiet_native_stderr

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keras and tf-keras import TensorFlow: no C++ log lines
    try:
        with quiet_native_stderr():  # which absl writes to descriptor 2 all the same (oneDNN, CUDA drivers)
            return importlib.import_module(_MODULES[framework])
    except Exception:  # noqa: BLE001 - a broken install is as missing as an absent one
        return None


def _resolve(path: str) -> Any:
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)


def _read(layer: Layer) -> tuple[dict[str, Any], str]:
    """(parameter -> default, where it was read) from the installed package."""
    if layer.reader == "onnx_schema":
        import onnx

        schema = onnx.defs.get_schema("LSTM")
        out: dict[str, Any] = {}
        for name, attr in schema.attributes.items():
            if not attr.default_value.name:
                out[name] = _NO_DEFAULT
                continue
            value = onnx.helper.get_attribute_value(attr.default_value)
            out[name] = value.decode() if isinstance(value, bytes) else value
        return out, f"onnx.defs.get_schema('LSTM') (opset {schema.since_version})"
    target = _resolve(layer.path)
    if layer.reader == "torch_overloads":
        # torch.nn.LSTM.__init__(*args, **kwargs): its typed overload holds the parameters
        for overload in typing.get_overloads(target.__init__):
            sig = inspect.signature(overload)
            if "batch_first" in sig.parameters:
                return _defaults(sig), f"typing.get_overloads({layer.path}.__init__)"
    return _defaults(inspect.signature(target)), f"inspect.signature({layer.path})"


def _defaults(sig: inspect.Signature) -> dict[str, Any]:
    return {n: p.default for n, p in sig.parameters.items() if p.default is not inspect.Parameter.empty}


# ---------------------------------------------------------------- the table
@dataclass
class Row:
    parameter: str
    default: str  # as the framework states it (repr), "-" where the parameter has no default
    meaning: str  # the canonical setting it decides
    value: str  # the framework default read as that setting
    spec: str | None  # the spec's default for it; None: the spec has no such setting
    differs: bool


@dataclass
class LayerDefaults:
    framework: str
    version: str
    layer: str
    source: str
    rows: list[Row] = field(default_factory=list)


def layers_for(spec: Spec) -> list[Layer]:
    """Layers that implement ``spec``, or a spec it extends without changing the equations."""
    names = {spec.name, *spec.lineage}
    return [layer for layer in LAYERS if names & set(layer.specs)]


def spec_defaults(spec: Spec) -> tuple[list[LayerDefaults], list[str]]:
    """(each installed layer's defaults, the frameworks not installed) for ``spec``."""
    out: list[LayerDefaults] = []
    missing: list[str] = []
    for layer in layers_for(spec):
        module = _import(layer.framework)
        if module is None:
            if layer.framework not in missing:
                missing.append(layer.framework)
            continue
        values, source = _read(layer)
        rows = []
        for parameter, meaning in layer.meanings.items():
            if parameter not in values:
                continue
            raw = values[parameter]
            value = NOT_SET if raw is _NO_DEFAULT else meaning.value(raw)
            ours = _spec_value(spec, meaning.canonical)
            rows.append(Row(parameter, NOT_SET if raw is _NO_DEFAULT else repr(raw), meaning.canonical, value, ours,
                            _differs(value, ours)))
        out.append(LayerDefaults(layer.framework, str(getattr(module, "__version__", "?")), layer.path, source, rows))
    return out, missing


def versions(reports: list[LayerDefaults]) -> dict[str, str]:
    return {r.framework: r.version for r in reports}


# ---------------------------------------------------------------- rendering
def _cell(row: Row, markdown: bool) -> str:
    if not row.differs:
        return row.value
    return f"**{row.value}** (differs)" if markdown else f"{row.value}  <- differs"


def render_terminal(spec: Spec, reports: list[LayerDefaults], missing: list[str]) -> str:
    lines = [f"{spec.name}: framework defaults that change the math (read from the installed packages)"]
    if not reports:
        lines.append("  no installed framework layer implements this spec")
    for r in reports:
        lines.append(f"\n{r.layer} ({r.framework} {r.version}; {r.source})")
        width = max(len(row.parameter) for row in r.rows) if r.rows else 0
        for row in r.rows:
            spec_text = row.spec if row.spec is not None else NOT_SET
            lines.append(f"  {row.parameter:<{width}} = {row.default:<16} {row.meaning}: {_cell(row, False)}"
                         f" (spec: {spec_text})")
    if missing:
        lines.append(f"\nnot installed: {', '.join(missing)}")
    return "\n".join(lines) + "\n"


def render_markdown(spec: Spec, reports: list[LayerDefaults], missing: list[str], *, level: int = 2) -> str:
    lines = [f"{'#' * level} {spec.name}", ""]
    if not reports:
        lines += ["No installed framework layer implements this spec.", ""]
    for r in reports:
        lines += [f"{'#' * (level + 1)} `{r.layer}` ({r.framework} {r.version})", "",
                  f"Read from `{r.source}`.", "",
                  "| parameter | default | decides | reads as | spec |", "|---|---|---|---|---|"]
        for row in r.rows:
            default = row.default.replace("|", "\\|")
            lines.append(f"| `{row.parameter}` | `{default}` | {row.meaning} | {_cell(row, True)} | "
                         f"{row.spec if row.spec is not None else NOT_SET} |")
        lines.append("")
    if missing:
        lines += [f"Not installed: {', '.join(missing)}.", ""]
    return "\n".join(lines)


def to_json(spec: Spec, reports: list[LayerDefaults], missing: list[str]) -> str:
    return json.dumps({"schema": SCHEMA, "version": VERSION, "spec": spec.name,
                       "layers": [asdict(r) for r in reports], "not_installed": missing}, indent=2) + "\n"


def defaults_report() -> str:
    """The Markdown report of every shipped spec (reports/defaults.md), with the versions it was made with."""
    from .spec.catalog import load_spec, shipped_names

    sections: list[str] = []
    seen: dict[str, str] = {}
    absent: list[str] = []
    for name in shipped_names():
        spec = load_spec(name)
        reports, missing = spec_defaults(spec)
        seen.update(versions(reports))
        absent += [m for m in missing if m not in absent]
        sections.append(render_markdown(spec, reports, missing))
    made_with = ", ".join(f"{k} {v}" for k, v in sorted(seen.items())) or "no framework"
    head = ["# Framework defaults that change the math", "",
            "Generated by `lstmspec defaults --all -o reports/defaults.md`: for each shipped spec, the defaults of "
            "every framework layer that implements it, read from the installed packages, beside the spec's own "
            "default. **bold** marks a default that differs from the spec's; `-` in the spec column: the spec has "
            "no such setting (an initialiser, not part of the equations).", "",
            f"Made with: {made_with}" + (f"; not installed: {', '.join(absent)}" if absent else "") + ".", ""]
    return "\n".join(head + sections).rstrip("\n") + "\n"
