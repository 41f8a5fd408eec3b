"""Typeset equations (`lstmspec/expr/render.py`, `lstmspec equations`), generated from the parsed IR."""
from __future__ import annotations

import pytest

from lstmspec.cli import main
from lstmspec.errors import LookupFailed
from lstmspec.expr.render import FORMATS, render_equations, render_expression
from lstmspec.spec import load_spec, shipped_names, specs_dir

LSTM_TEXT = [
    "i_t = σ(x_t W_i + h_{t-1} U_i + b_i)",
    "f_t = σ(x_t W_f + h_{t-1} U_f + b_f)",
    "g_t = tanh(x_t W_g + h_{t-1} U_g + b_g)",
    "o_t = σ(x_t W_o + h_{t-1} U_o + b_o)",
    "c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t",
    "h_t = o_t ⊙ tanh(c_t)",
]
LSTM_LATEX = [
    r"i_t &= \sigma\left(x_t W_{i} + h_{t-1} U_{i} + b_{i}\right)",
    r"g_t &= \tanh\left(x_t W_{g} + h_{t-1} U_{g} + b_{g}\right)",
    r"c_t &= f_t \odot c_{t-1} + i_t \odot g_t",
    r"h_t &= o_t \odot \tanh\left(c_t\right)",
]


def test_lstm_markdown_has_the_equations_as_text_and_latex():
    text = render_equations(load_spec("lstm"), "markdown")
    for line in LSTM_TEXT + LSTM_LATEX:
        assert line in text, line
    assert "```text" in text and "$$\n\\begin{aligned}" in text
    assert "σ = recurrent_activation (default sigmoid)" in text
    assert "tanh = activation (default tanh)" in text
    assert "⊙ is the elementwise (Hadamard) product" in text


def test_lstm_markdown_lists_parameters_with_shapes():
    text = render_equations(load_spec("lstm"), "markdown")
    assert "| `W_i`  | parameter | `(input, units)`" in text
    assert "| `U_o`  | parameter | `(units, units)`" in text
    assert "| `c`    | state     | `(batch, units)`" in text


def test_lstm_latex_and_text_formats():
    spec = load_spec("lstm")
    latex = render_equations(spec, "latex")
    assert r"\begin{align*}" in latex and r"\end{align*}" in latex
    for line in LSTM_LATEX:
        assert line in latex
    assert r"$\sigma$ = \texttt{recurrent\_activation} (default sigmoid)" in latex
    assert r"$W_{i}$ & parameter & \texttt{(input, units)}" in latex
    text = render_equations(spec, "text")
    for line in LSTM_TEXT:
        assert line in text
    assert "$$" not in text and "```" not in text


def test_equations_follow_the_dependency_order():
    text = render_equations(load_spec("lstm_peephole"), "text")
    positions = [text.index(f"  {lhs} = ") for lhs in ("i_t", "f_t", "g_t", "c_t", "o_t", "h_t")]
    assert positions == sorted(positions)


def test_peephole_output_gate_reads_the_new_cell_state():
    text = render_equations(load_spec("lstm_peephole"), "markdown")
    assert "o_t = σ(x_t W_o + h_{t-1} U_o + P_o ⊙ c_t + b_o)" in text
    assert "i_t = σ(x_t W_i + h_{t-1} U_i + P_i ⊙ c_{t-1} + b_i)" in text
    assert r"o_t &= \sigma\left(x_t W_{o} + h_{t-1} U_{o} + P_{o} \odot c_t + b_{o}\right)" in text


def test_convlstm_shows_convolutions_and_their_fixed_options():
    text = render_equations(load_spec("convlstm2d_peephole"), "markdown")
    assert "i_t = σ(x_t ∗ W_i + h_{t-1} ∗ U_i + P_i ⊙ c_{t-1} + b_i)" in text
    assert "o_t = σ(x_t ∗ W_o + h_{t-1} ∗ U_o + P_o ⊙ c_t + b_o)" in text
    assert "in h_{t-1} ∗ …: padding=same, strides=1, dilation=1 (fixed)" in text
    assert "in x_t ∗ …: padding, strides, dilation from the attributes (default padding=valid" in text
    assert r"x_t \ast W_{i} + h_{t-1} \ast U_{i}" in text
    assert "`(batch, out_rows, out_cols, filters)`" in text  # derived dims by name, explained below
    assert "- `out_rows` = `rows - kernel_rows + 1` for the default attributes" in text


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("name", shipped_names())
def test_every_shipped_spec_renders(name, fmt):
    spec = load_spec(name)
    text = render_equations(spec, fmt)
    assert text.endswith("\n") and spec.name in text
    equals = "&=" if fmt == "latex" else " = "
    lhss = ("i_t", "f_t", "g_t", "o_t", "c_t", "h_t") if not spec.is_grid else ("c_{i,j}", "h_{i,j}")
    for lhs in lhss:
        assert f"{lhs} {equals}" in text or f"{lhs}{equals}" in text
    for name_ in spec.params:
        base, _, sub = name_.partition("_")
        assert (f"{base}_{{{sub.replace('_', chr(92) + '_')}}}" if fmt == "latex" else name_) in text


@pytest.mark.parametrize("expression, expected", [
    ("f * c + i * g", "f_t ⊙ c_{t-1} + i_t ⊙ g_t"),
    ("f * (c + g)", "f_t ⊙ (c_{t-1} + g_t)"),
    ("(f * c) * g", "f_t ⊙ c_{t-1} ⊙ g_t"),
    ("c - (g - i)", "c_{t-1} - (g_t - i_t)"),
    ("c - g + i", "c_{t-1} - g_t + i_t"),
    ("(c + g) @ U_i", "(c_{t-1} + g_t) U_i"),
    ("x @ W_i * h", "(x_t W_i) ⊙ h_{t-1}"),
    ("-(c + g)", "-(c_{t-1} + g_t)"),
    ("c + -g", "c_{t-1} + (-g_t)"),
    ("2 * c", "2 · c_{t-1}"),
    ("0.5 * c", "0.5 · c_{t-1}"),
    # σ already stands for recurrent_activation here, so the sigmoid function keeps its name
    ("tanh(sigmoid(c))", "tanh(sigmoid(c_{t-1}))"),
])
def test_parentheses_only_where_precedence_needs_them(expression, expected):
    assert render_expression(load_spec("lstm"), expression) == expected


def test_latex_expression():
    spec = load_spec("lstm")
    assert render_expression(spec, "f * (c + g)", latex=True) == r"f_t \odot (c_{t-1} + g_t)"
    assert render_expression(spec, "recurrent_activation(x @ W_i)", latex=True) == r"\sigma\left(x_t W_{i}\right)"


def test_two_activation_attributes_with_one_default_keep_their_names(tmp_path):
    source = (specs_dir() / "lstm.toml").read_text()
    old = 'recurrent_activation = { type = "activation", default = "sigmoid"'
    assert old in source
    path = tmp_path / "tanh_gates.toml"
    path.write_text(source.replace(old, 'recurrent_activation = { type = "activation", default = "tanh"'))
    text = render_equations(load_spec(str(path)), "text")
    assert "i_t = recurrent_activation(x_t W_i + h_{t-1} U_i + b_i)" in text
    assert "g_t = tanh(x_t W_g" in text
    assert "recurrent_activation = recurrent_activation (default tanh)" in text


def test_unknown_format_lists_the_known_ones():
    with pytest.raises(LookupFailed, match="unknown equation format 'rst'; available: latex, markdown, text"):
        render_equations(load_spec("lstm"), "rst")


def test_cli_equations(capsys):
    assert main(["equations", "lstm"]) == 0
    out = capsys.readouterr().out
    assert "c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t" in out
    assert main(["equations", "convlstm2d_peephole", "--format", "latex"]) == 0
    assert r"\ast" in capsys.readouterr().out


def test_a_conv_option_read_from_an_attribute_of_another_name_says_which():
    text = render_equations(load_spec("pixelrnn_row_lstm"), "markdown")
    assert "mask, mask_groups=colours from the attributes (default mask=A, colours=3)" in text
