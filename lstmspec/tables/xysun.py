"""Temporary home of the published-table comparison (moves to docs/ next)."""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from tabulate import tabulate

from ..spec import load_spec
from ..spec.model import Spec
from .build import shape_table
from .model import format_attr, format_value


# ------------------------------------------------------ seed 004: a blog table
# xysun/blog issue #10, "Shapes of LSTM and ConvLSTM" (TensorFlow r1.12), as
# written there. Its names map to ours: input_dim -> input, timestep -> time,
# width -> rows (its first spatial axis), height -> cols, conv_kernel_x ->
# kernel_rows, conv_kernel_y -> kernel_cols, channel -> channels.
SEED_SOURCE = "xysun/blog, issue #10 \"Shapes of LSTM and ConvLSTM\" (TensorFlow r1.12)"


@dataclass(frozen=True)
class SeedClaim:
    label: str  # the seed's row
    claim: str  # what the seed writes ("" where it says nothing)
    value: Callable[[Mapping[str, int]], tuple[int, ...]] | None  # the seed's formula with our sizes
    row: tuple[str, str]  # the lstmspec row it is compared with
    comment: str
    per_sample: bool = False  # the seed says "without batch"


def _seed_conv_out(d: Mapping[str, int]) -> tuple[int, ...]:
    return (d["rows"] - d["kernel_rows"] + 1, d["cols"] - d["kernel_cols"] + 1, d["filters"])


SEED_CONV_OUT = "(width - conv_kernel_x + 1, height - conv_kernel_y + 1, filters)"

SEED_LSTM = (
    SeedClaim("input", "(batch, timestep, input_dim)", lambda d: (d["batch"], d["time"], d["input"]), ("input", "x"),
              "correct"),
    SeedClaim("gates", "(units, 1)", lambda d: (d["units"], 1), ("gates", "i"),
              "no batch axis, and a column vector: Keras computes row vectors for the whole batch, "
              "x_t (batch, input) @ W_i (input, units) -> (batch, units)"),
    SeedClaim("kernel", "(units, input_dim)", lambda d: (d["units"], d["input"]), ("parameters", "W_i"),
              "transposed: Keras multiplies x_t @ W, so one gate's kernel is (input_dim, units); "
              "(units, input_dim) is PyTorch's orientation (weight_ih_l0 is (4*units, input))"),
    SeedClaim("kernel (the Keras variable)", "", None, ("keras", "kernel"),
              "missing: Keras stores the four gates in one variable, (input_dim, 4*units), gates i, f, c, o "
              "along the last axis"),
    SeedClaim("recurrent_kernel", "(units, units)", lambda d: (d["units"], d["units"]), ("parameters", "U_i"),
              "correct per gate (square, so the orientation does not show)"),
    SeedClaim("recurrent_kernel (the Keras variable)", "", None, ("keras", "recurrent_kernel"),
              "missing: (units, 4*units), gates i, f, c, o"),
    SeedClaim("cell_state", "(units, 1)", lambda d: (d["units"], 1), ("states", "c"),
              "no batch axis; a column vector where Keras has (batch, units)"),
    SeedClaim("hidden_state/output (without batch)", "(units, 1)", lambda d: (d["units"], 1),
              ("outputs", "y, return_sequences=False"),
              "without batch one sample's state is a vector (units,), not a (units, 1) matrix", per_sample=True),
    SeedClaim("output, return_sequences=True", "", None, ("outputs", "y, return_sequences=True"),
              "missing: every timestep's h, (batch, timestep, units)"),
)

SEED_CONVLSTM2D = (
    SeedClaim("input", "(batch, timestep, width, height, channel)",
              lambda d: (d["batch"], d["time"], d["rows"], d["cols"], d["channels"]), ("input", "x"),
              "numbers right for square frames, axes misnamed: Keras/TF order is (rows, cols) = (height, width), "
              "see the 96x128 row below"),
    SeedClaim("gates", SEED_CONV_OUT, _seed_conv_out, ("gates", "i"),
              "no batch axis; the formula holds only for padding=valid, stride 1, dilation 1 (general formula below)"),
    SeedClaim("kernel", "(conv_kernel_x, conv_kernel_y, channel, filters)",
              lambda d: (d["kernel_rows"], d["kernel_cols"], d["channels"], d["filters"]), ("parameters", "W_i"),
              "correct per gate"),
    SeedClaim("kernel (the Keras variable)", "", None, ("keras", "kernel"),
              "missing: Keras stores the four gates in one variable, last axis 4*filters, gates i, f, c, o"),
    SeedClaim("recurrent_kernel", "(conv_kernel_x, conv_kernel_y, filters, filters)",
              lambda d: (d["kernel_rows"], d["kernel_cols"], d["filters"], d["filters"]), ("parameters", "U_i"),
              "correct per gate; always applied with padding=same, stride 1, dilation 1, so the state keeps its size"),
    SeedClaim("recurrent_kernel (the Keras variable)", "", None, ("keras", "recurrent_kernel"),
              "missing: last axis 4*filters"),
    SeedClaim("cell_state", SEED_CONV_OUT, _seed_conv_out, ("states", "c"), "no batch axis; valid/stride 1 only"),
    SeedClaim("hidden_state/output (without batch)", SEED_CONV_OUT, _seed_conv_out,
              ("outputs", "y, return_sequences=False"), "right per sample for valid/stride 1 only", per_sample=True),
    SeedClaim("output, return_sequences=True", "", None, ("outputs", "y, return_sequences=True"),
              "missing: (batch, timestep, out_rows, out_cols, filters)"),
)

#: The seed's example: 8 sequences of 100 steps; LSTM input_dim 20; ConvLSTM2D frames 128x128x3
#: with a 3x3 kernel. The seed gives no units or filters: 64 is our choice.
SEED_SIZES = {
    "lstm": {"batch": 8, "time": 100, "input": 20, "units": 64},
    "convlstm2d": {"batch": 8, "time": 100, "rows": 128, "cols": 128, "channels": 3, "filters": 64,
                   "kernel_rows": 3, "kernel_cols": 3},
}

#: ConvLSTM2D variants around the seed's example: its assumption first, then what it leaves out.
SEED_VARIANTS: tuple[tuple[dict[str, int], dict[str, Any], str], ...] = (
    ({}, {}, "the seed's assumption: valid, stride 1, dilation 1"),
    ({}, {"padding": "same"}, "same padding keeps the size at stride 1"),
    ({}, {"strides": 2}, "valid, stride 2"),
    ({}, {"padding": "same", "strides": 2}, "same, stride 2: ceil(n / 2)"),
    ({}, {"dilation": 2}, "valid, dilation 2: the 3x3 kernel spans 5x5"),
    ({"rows": 96, "cols": 128}, {}, "96x128 (height x width) frames: rows come first; "
     "the seed's width-first formula would give (126, 94, 64)"),
)


def _seed_table(spec: Spec, claims: tuple[SeedClaim, ...], sizes: Mapping[str, int]) -> str:
    attrs = spec.resolve_config()
    all_sizes = spec.resolve_dims(sizes, attrs)
    symbolic = shape_table(spec, None, attrs)
    concrete = shape_table(spec, all_sizes, attrs, partial=sizes)
    body = []
    for c in claims:
        seed_value = c.value(all_sizes) if c.value is not None else None
        ours = concrete.row(*c.row).value
        mark = "—" if seed_value is None else "✓" if seed_value == ours else (
            "✓ per sample" if c.per_sample and isinstance(ours, tuple) and seed_value == ours[1:] else "✗")
        body.append([
            c.label,
            f"`{c.claim}`" if c.claim else "—",
            f"`{format_value(seed_value)}`" if seed_value is not None else "—",
            f"{c.row[1]}: `{symbolic.row(*c.row).shape}`",
            f"`{format_value(ours)}`",
            mark,
            c.comment,
        ])
    headers = ["seed row", "seed says", "seed, evaluated", "lstmspec", "lstmspec, evaluated", "", "comment"]
    return tabulate(body, headers, tablefmt="github")


def _variants_table(spec: Spec, base: Mapping[str, int]) -> str:
    body = []
    for dims, config, comment in SEED_VARIANTS:
        attrs = spec.resolve_config(config)
        sizes = {**base, **dims}
        table = shape_table(spec, spec.resolve_dims(sizes, attrs), attrs, partial=sizes)
        words = " ".join([f"{k}={v}" for k, v in dims.items()] + [f"{k}={format_attr(v)}" for k, v in config.items()])
        body.append([
            f"`{words}`" if words else "(defaults)",
            f"`{table.row('derived dims', 'out_rows').shape}`",
            f"`{table.row('derived dims', 'out_cols').shape}`",
            f"`{format_value(table.row('gates', 'i').value)}`",
            comment,
        ])
    headers = ["configuration", "out_rows", "out_cols", "gates, states (batch, out_rows, out_cols, filters)", "note"]
    return tabulate(body, headers, tablefmt="github")


def seed_section() -> str:
    """The report section that reproduces seed 004's example and checks its table."""
    lstm, conv = load_spec("lstm"), load_spec("convlstm2d")
    lstm_sizes, conv_sizes = SEED_SIZES["lstm"], SEED_SIZES["convlstm2d"]
    out_rows = conv.dims["out_rows"].derived
    return "\n".join([
        "## Checking a published shape table (seed 004)",
        "",
        f"Source: {SEED_SOURCE}. Its example: 8 sequences of 100 timesteps; for LSTM each step a "
        "vector of 20 features, input `(8, 100, 20)`; for ConvLSTM2D each step a 128x128x3 frame, input "
        "`(8, 100, 128, 128, 3)`, with a 3x3 kernel. The seed gives no number of units or filters; "
        "**we choose units = filters = 64**. The seed's table assumes \"1x1 stride and no padding\" "
        "for ConvLSTM2D. Below, each of its rows next to what lstmspec derives from `specs/lstm.toml` "
        "and `specs/convlstm2d.toml` (Keras semantics) for the same sizes; \"seed, evaluated\" is the "
        "seed's formula with these sizes. ✓ agrees, ✗ disagrees, — the seed has no such row.",
        "",
        f"### LSTM (`{_example_command(lstm, lstm_sizes)}`)",
        "",
        _seed_table(lstm, SEED_LSTM, lstm_sizes),
        "",
        f"### ConvLSTM2D (`{_example_command(conv, conv_sizes)}`)",
        "",
        _seed_table(conv, SEED_CONVLSTM2D, conv_sizes),
        "",
        "### What the seed gets wrong or leaves out",
        "",
        "- **No batch axis.** Gates, cell state and hidden state are `(batch, units)` for LSTM and "
        "`(batch, out_rows, out_cols, filters)` for ConvLSTM2D; the seed writes LSTM's as `(units, 1)`, "
        "a column vector of one sample, and ConvLSTM2D's without the batch.",
        "- **Kernel orientation and storage.** Keras computes `x_t @ W`, so one gate's kernel is "
        "`(input_dim, units)`, not the seed's `(units, input_dim)` (that is PyTorch's orientation, whose "
        "`weight_ih_l0` is `(4*units, input_dim)`). And Keras does not keep one kernel per gate: its "
        "`kernel` variable is the four gates concatenated, `(input_dim, 4*units)` = `(20, 256)` here, "
        "gates in the order i, f, c, o; ConvLSTM2D's is `(3, 3, 3, 256)`. The seed's ConvLSTM2D kernels "
        "are right per gate.",
        "- **Axis names.** The seed calls the spatial axes (width, height). Keras and TensorFlow order "
        "them (rows, cols) = (height, width), channels last: a 96-high, 128-wide frame is "
        "`(batch, time, 96, 128, 3)`. With square frames the mix-up does not show in the numbers.",
        "- **Only stride 1, no padding.** The seed's `width - conv_kernel_x + 1` is the `valid` case with "
        "stride 1 and dilation 1. In general (TensorFlow's rule, per spatial axis; `out_cols` alike):",
        "",
        "  ```",
        f"  out_rows = {out_rows.render(None).replace('; same: ', chr(10) + '  out_rows = ').replace('valid: ', '', 1)}",
        "  ```",
        "",
        "  the first line for `padding=valid`, the second for `padding=same`, whose total padding "
        "`max((out - 1)*stride + dilation*(k - 1) + 1 - n, 0)` is split with the odd row or column at the "
        "bottom/right. The recurrent convolution is always `same` with stride 1, so the states keep the "
        "size of the input convolution's output. Around the seed's example:",
        "",
        _variants_table(conv, conv_sizes),
    ])


def _example_command(spec: Spec, sizes: Mapping[str, int]) -> str:
    from .report import example_command

    return example_command(spec, sizes)
