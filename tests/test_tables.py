"""Shape tables (`lstmspec/tables/`: build, formats, report; `lstmspec shapes`) and the staleness of reports/shapes.md."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from lstmspec.cli import main
from lstmspec.errors import LookupFailed
from lstmspec.spec import load_spec, shipped_names
from lstmspec.tables import FORMATS, REPORT_COMMAND, format_table, shape_table, shapes_report

ROOT = Path(__file__).resolve().parents[1]
REPORT = ROOT / "reports" / "shapes.md"
WORKED_EXAMPLE = ROOT / "docs" / "worked-example-xysun-shapes.md"
COMMAND = re.compile(r"`lstmspec (shapes [^`]+)`")

# the sizes of the worked example in docs/worked-example-xysun-shapes.md
EXAMPLE_CONV = {"batch": 8, "time": 100, "rows": 128, "cols": 128, "channels": 3, "filters": 64,
                "kernel_rows": 3, "kernel_cols": 3}
EXAMPLE_LSTM = {"batch": 8, "time": 100, "input": 20, "units": 64}


def table(name: str, sizes: dict | None = None, **config):
    spec = load_spec(name)
    attrs = spec.resolve_config(config)
    return shape_table(spec, spec.resolve_dims(sizes, attrs) if sizes is not None else None, attrs, partial=sizes)


# ------------------------------------------------------------------ symbolic
def test_lstm_symbolic_rows_cover_params_layouts_gates_states_outputs():
    t = table("lstm")
    assert t.sizes is None and all(r.value is None for r in t.rows)
    assert t.row("input", "x").shape == "(batch, time, input)"
    assert t.row("parameters", "W_i").shape == "(input, units)"
    assert t.row("parameters", "U_o").shape == "(units, units)"
    assert t.row("parameters", "b_g").shape == "(units,)"
    assert t.row("keras", "kernel").shape == "(input, 4*units)"
    assert t.row("keras", "recurrent_kernel").shape == "(units, 4*units)"
    assert t.row("gates", "i pre-activation").shape == "(batch, units)"
    assert t.row("gates", "g").shape == "(batch, units)"
    assert t.row("states", "c").shape == "(batch, units)"
    assert t.row("outputs", "y, return_sequences=True").shape == "(batch, time, units)"
    assert t.row("outputs", "y, return_sequences=False").shape == "(batch, units)"
    assert [r.quantity for r in t.section("gates")][::2] == [f"{g} pre-activation" for g in "ifgo"]


def test_lstm_torch_and_onnx_layout_rows():
    t = table("lstm")
    assert t.row("torch", "weight_ih_l0").shape == "(4*units, input)"
    assert t.row("torch", "weight_hh_l0").shape == "(4*units, units)"
    assert t.row("torch", "bias_ih_l0").shape == "(4*units,)"
    assert t.row("onnx", "W").shape == "(1, 4*units, input)"
    assert t.row("onnx", "B").shape == "(1, 8*units)"
    assert "concat(W_i, W_o, W_f, W_g), transposed" in t.row("onnx", "W").note  # ONNX gate order i, o, f, c
    assert "b_i = b_i:0 + b_i:1" in t.row("torch", "bias_ih_l0").note
    assert "gates i, f, g, o" in t.layouts["torch"]
    c = table("lstm", EXAMPLE_LSTM)
    assert c.row("torch", "weight_ih_l0").value == (256, 20)
    assert c.row("onnx", "W").value == (1, 256, 20)
    assert c.row("onnx", "B").value == (1, 512)
    assert c.row("keras", "kernel").value == (20, 256)


def test_convlstm2d_symbolic_defaults_show_the_valid_formula():
    t = table("convlstm2d")
    gates = "(batch, rows - kernel_rows + 1, cols - kernel_cols + 1, filters)"
    assert t.row("gates", "i").shape == gates
    assert t.row("states", "h").shape == gates
    assert t.row("keras", "kernel").shape == "(kernel_rows, kernel_cols, channels, 4*filters)"
    out_rows = t.row("derived dims", "out_rows")
    assert out_rows.shape == "rows - kernel_rows + 1"
    assert out_rows.note == (
        "general: valid: floor((rows - dilation[0]*(kernel_rows - 1) - 1) / strides[0]) + 1; same: ceil(rows / strides[0])"
    )


@pytest.mark.parametrize("config, out_rows", [
    ({"padding": "same", "strides": 2}, "ceil(rows / 2)"),
    ({"padding": "same"}, "rows"),
    ({"strides": 2}, "floor((rows - kernel_rows) / 2) + 1"),
    ({"dilation": 2}, "rows - 2*(kernel_rows - 1)"),
    ({"strides": (3, 1), "dilation": 2}, "floor((rows - 2*(kernel_rows - 1) - 1) / 3) + 1"),
])
def test_convlstm2d_symbolic_formula_follows_the_attributes(config, out_rows):
    t = table("convlstm2d", **config)
    assert t.row("derived dims", "out_rows").shape == out_rows
    assert t.row("gates", "o").shape.startswith(f"(batch, {out_rows}, ")


# ------------------------------------------------------------------ concrete
def test_convlstm2d_concrete_worked_example():
    t = table("convlstm2d", EXAMPLE_CONV)
    assert t.row("input", "x").value == (8, 100, 128, 128, 3)
    assert t.row("parameters", "W_i").value == (3, 3, 3, 64)
    assert t.row("parameters", "U_i").value == (3, 3, 64, 64)
    assert t.row("keras", "kernel").value == (3, 3, 3, 256)
    assert t.row("keras", "recurrent_kernel").value == (3, 3, 64, 256)
    assert t.row("keras", "bias").value == (256,)
    assert t.row("gates", "i pre-activation").value == (8, 126, 126, 64)
    assert t.row("gates", "i").value == (8, 126, 126, 64)
    assert t.row("states", "c").value == (8, 126, 126, 64)
    assert t.row("outputs", "y, return_sequences=True").value == (8, 100, 126, 126, 64)
    assert t.row("outputs", "y, return_sequences=False").value == (8, 126, 126, 64)
    assert t.row("derived dims", "out_rows").value == 126


def test_convlstm2d_concrete_same_stride_2():
    t = table("convlstm2d", EXAMPLE_CONV, padding="same", strides=2)
    assert t.row("gates", "f").value == (8, 64, 64, 64)
    assert t.row("gates", "f").shape == "(batch, ceil(rows / 2), ceil(cols / 2), filters)"
    assert t.row("keras", "kernel").value == (3, 3, 3, 256)


def test_non_square_frames_keep_rows_first():
    t = table("convlstm2d", {**EXAMPLE_CONV, "rows": 96})
    assert t.row("input", "x").value == (8, 100, 96, 128, 3)
    assert t.row("states", "h").value == (8, 94, 126, 64)


def test_channels_first_moves_the_channel_axis_of_batch_tensors_only():
    t = table("convlstm2d", EXAMPLE_CONV, data_format="channels_first")
    assert t.row("input", "x").value == (8, 100, 3, 128, 128)
    assert t.row("states", "h").shape == "(batch, filters, rows - kernel_rows + 1, cols - kernel_cols + 1)"
    assert t.row("outputs", "y, return_sequences=True").value == (8, 100, 64, 126, 126)
    assert t.row("keras", "kernel").value == (3, 3, 3, 256)  # Keras keeps its kernel layout
    assert any("channels_first" in r for r in t.remarks)


def test_peephole_specs_list_their_peepholes():
    t = table("lstm_peephole", EXAMPLE_LSTM)
    assert t.row("parameters", "P_o").value == (64,)
    assert t.row("onnx", "P").shape == "(1, 3*units)"
    assert "concat(P_i, P_o, P_f)" in t.row("onnx", "P").note
    c = table("convlstm2d_peephole", EXAMPLE_CONV)
    assert c.row("parameters", "P_i").shape == "(rows - kernel_rows + 1, cols - kernel_cols + 1, filters)"
    assert c.row("parameters", "P_i").value == (126, 126, 64)


def test_title_says_which_sizes_are_defaults():
    spec = load_spec("lstm")
    attrs = spec.resolve_config()
    t = shape_table(spec, spec.resolve_dims({"units": 64}, attrs), attrs, partial={"units": 64})
    text = format_table(t, "github")
    assert "sizes: units=64; spec defaults: batch=3 time=5 input=4" in text


# ------------------------------------------------------------------- formats
@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("name", shipped_names())
def test_every_format_renders_for_every_shipped_spec(name, fmt):
    spec = load_spec(name)
    for t in (table(name), table(name, {})):
        text = format_table(t, fmt)
        assert text.endswith("\n")
        if fmt == "json":
            data = json.loads(text)
            assert data["spec"] == name and len(data["rows"]) == len(t.rows)
        else:
            assert name.replace("_", r"\_" if fmt == "latex" else "_") in text
            for param in spec.params:
                assert param.replace("_", r"\_" if fmt == "latex" else "_") in text


def test_json_is_documented_plain_data():
    data = json.loads(format_table(table("convlstm2d", EXAMPLE_CONV, strides=2), "json"))
    assert set(data) >= {"spec", "title", "attrs", "dims", "given", "rows", "layouts"}
    assert data["attrs"]["strides"] == [2, 2]
    assert data["dims"]["out_rows"] == 63 and data["given"]["rows"] == 128
    row = next(r for r in data["rows"] if r["section"] == "gates" and r["quantity"] == "i")
    assert row == {"section": "gates", "quantity": "i", "shape": row["shape"], "value": [8, 63, 63, 64],
                   "note": "input gate"}
    assert json.loads(format_table(table("lstm"), "json"))["dims"] is None


def test_json_names_its_schema_and_an_integer_version(capsys):
    data = json.loads(format_table(table("lstm"), "json"))
    assert list(data)[:2] == ["schema", "version"]
    assert data["schema"] == "lstmspec-shapes"
    assert type(data["version"]) is int and data["version"] == 1
    assert main(["shapes", "convlstm2d", "rows=32", "--format", "json"]) == 0
    cli = json.loads(capsys.readouterr().out)
    assert (cli["schema"], cli["version"]) == ("lstmspec-shapes", 1)


def test_markdown_puts_shapes_in_code_spans():
    text = format_table(table("lstm"), "markdown")
    assert text.startswith("### lstm: ")
    assert "`(input, 4*units)`" in text  # a bare 4*units...*units could turn italic


def test_html_escapes():
    text = format_table(table("lstm_peephole"), "html")
    assert "<table>" in text and "Gers &amp; Schmidhuber" in text


def test_unknown_format_lists_the_known_ones():
    with pytest.raises(LookupFailed, match="unknown table format 'xml'; available: github, html, json"):
        format_table(table("lstm"), "xml")


# -------------------------------------------------------------------- report
def test_reports_shapes_md_is_up_to_date():
    assert REPORT.is_file(), f"reports/shapes.md is missing; run: {REPORT_COMMAND}"
    assert REPORT.read_text(encoding="utf-8") == shapes_report(), f"reports/shapes.md is stale; run: {REPORT_COMMAND}"


def test_report_covers_every_shipped_spec_and_says_how_to_regenerate():
    text = shapes_report()
    assert REPORT_COMMAND in text.splitlines()[2]
    for name in shipped_names():
        assert f"\n## {name}\n" in text
        assert f"### Symbolic: `lstmspec shapes {name}`" in text


# ------------------------------------------------------ docs: worked example
def _table_rows(markdown: str) -> list[list[str]]:
    """The body rows of the first Markdown table in ``markdown``, as stripped cells (header and rule dropped)."""
    lines = [line for line in markdown.splitlines() if line.startswith("|")]
    return [[cell.strip() for cell in line.split("|")[1:-1]] for line in lines[2:]]


def _worked_example() -> dict[str, str]:
    """The worked example's ``## `` sections by heading."""
    text = WORKED_EXAMPLE.read_text(encoding="utf-8")
    return {part.split("\n", 1)[0]: part for part in text.split("\n## ")[1:]}


def _shapes_json(argv: list[str], capsys) -> dict:
    assert main([*argv, "--format", "json"]) == 0, f"exit code != 0 [lstmspec {' '.join(argv)}]"
    return json.loads(capsys.readouterr().out)


def _shape(cell: str) -> tuple[int, ...]:
    """```(8, 64)``` -> (8, 64)."""
    return tuple(int(n) for n in cell.strip("`()").split(",") if n.strip())


@pytest.mark.parametrize("layer", ["LSTM", "ConvLSTM2D"])
def test_worked_example_lstmspec_cells_are_what_lstmspec_derives(layer, capsys):
    """Each lstmspec cell of the comparison with xysun's table is the output of the command in its heading."""
    (heading, section), = [(h, s) for h, s in _worked_example().items() if h.startswith(f"{layer} (")]
    argv = COMMAND.search(heading).group(1).split()
    rows = _shapes_json(argv, capsys)["rows"]
    body = _table_rows(section)
    assert len(body) >= 9, f"rows compared={len(body)}, but should be >= 9 [{heading}]"
    for label, _, post, ours, ours_value, mark, _ in body:
        quantity, shape = re.fullmatch(r"(.+): `(.+)`", ours).groups()
        found = [r for r in rows if r["quantity"] == quantity]
        assert len(found) == 1, f"rows named {quantity!r}={len(found)}, but should be 1 [{heading}]"
        assert shape == found[0]["shape"], f"{label}: symbolic={shape}, but should be {found[0]['shape']} [{heading}]"
        value = tuple(found[0]["value"])
        assert _shape(ours_value) == value, f"{label}: evaluated={ours_value}, but should be {value} [{heading}]"
        if post == "—":
            expected = "—"
        elif _shape(post) == value:
            expected = "✓"
        else:
            expected = "✓ per sample" if "without batch" in label and _shape(post) == value[1:] else "✗"
        assert mark == expected, f"{label}: mark={mark}, but should be {expected} [{heading}]"


def test_worked_example_variants_are_what_lstmspec_derives(capsys):
    sections = _worked_example()
    base = COMMAND.search(next(h for h in sections if h.startswith("ConvLSTM2D ("))).group(1).split()
    body = _table_rows(sections["Around the post's example"])
    assert len(body) >= 6, f"variants={len(body)}, but should be >= 6"
    for words, out_rows, out_cols, gates, _ in body:
        argv = base + ([] if words == "(defaults)" else words.strip("`").split())
        data = _shapes_json(argv, capsys)
        derived = {r["quantity"]: r["shape"] for r in data["rows"] if r["section"] == "derived dims"}
        gate = next(r for r in data["rows"] if (r["section"], r["quantity"]) == ("gates", "i"))
        assert (out_rows, out_cols) == (f"`{derived['out_rows']}`", f"`{derived['out_cols']}`"), words
        assert _shape(gates) == tuple(gate["value"]), f"gates={gates}, but should be {gate['value']} [{words}]"


def test_worked_example_cites_its_source_and_says_where_it_is_wrong():
    text = WORKED_EXAMPLE.read_text(encoding="utf-8")
    assert '"Shapes of LSTM and ConvLSTM" #10' in text and "https://github.com/xysun/blog/issues/10" in text
    assert "we choose units = filters = 64" in text
    lstm = {row[0]: row for row in _table_rows(_worked_example()["LSTM (`lstmspec shapes lstm batch=8 time=100 "
                                                                   "input=20 units=64`)"])}
    assert lstm["gates"][2:4] == ["`(64, 1)`", "i: `(batch, units)`"] and lstm["gates"][5] == "✗"
    assert lstm["kernel"][2] == "`(64, 20)`" and lstm["kernel"][4] == "`(20, 64)`" and lstm["kernel"][5] == "✗"
    assert lstm["kernel (the Keras variable)"][4] == "`(20, 256)`"
    assert "(rows, cols) = (height, width)" in text
    valid, same = load_spec("convlstm2d").dims["out_rows"].derived.render(None).split("; same: ")
    assert f"out_rows = {valid.removeprefix('valid: ')}\n" in text and f"out_rows = {same}\n" in text


# ----------------------------------------------------------------------- CLI
def test_cli_shapes_symbolic(capsys):
    assert main(["shapes", "convlstm2d"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("convlstm2d: ConvLSTM2D")
    assert "(batch, rows - kernel_rows + 1, cols - kernel_cols + 1, filters)" in out


def test_cli_shapes_with_kernel_size_and_strides(capsys):
    argv = ["shapes", "convlstm2d", "batch=8", "time=100", "rows=128", "cols=128", "channels=3", "filters=64",
            "kernel_size=3x3"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "(8, 126, 126, 64)" in out and "(3, 3, 3, 256)" in out
    assert main(argv + ["padding=same", "strides=2"]) == 0
    out = capsys.readouterr().out
    assert "(8, 64, 64, 64)" in out and "ceil(rows / 2)" in out


def test_cli_shapes_json_and_latex(capsys):
    assert main(["shapes", "lstm", "units=64", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["dims"]["units"] == 64
    assert main(["shapes", "lstm", "--format", "latex"]) == 0
    assert r"\begin{tabular}" in capsys.readouterr().out


def test_cli_shapes_all_writes_the_report(tmp_path, capsys):
    path = tmp_path / "shapes.md"
    assert main(["shapes", "--all", "-o", str(path)]) == 0
    assert path.read_text(encoding="utf-8") == shapes_report()
    assert f"wrote {path}" in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["shapes", "lstmm"], "unknown spec 'lstmm'; available: cnn_convlstm, cnn_lstm, convlstm1d"),
    (["shapes", "lstm", "unitz=3"], "spec lstm has no dimension or attribute 'unitz'"),
    (["shapes", "lstm", "units=abc"], "Expected a positive integer but got units=abc"),
    (["shapes", "lstm", "units=-4"], "Expected a positive integer but got units=-4"),
    (["shapes", "lstm", "units=0"], "Expected a positive integer but got units=0"),
    (["shapes", "lstm", "units"], "expected NAME=VALUE, got 'units'"),
    (["shapes", "convlstm2d", "rows=2", "kernel_size=3x3"],
     "empty output: out_rows = rows - kernel_rows + 1 = 0 (the kernel is larger than the padded input)"),
    (["shapes", "convlstm2d", "kernel_size=3x3x3"], "kernel_size has 2 entries"),
    (["shapes", "convlstm2d", "strides=0"], "Expected positive integers but got strides=(0, 0)"),
    (["shapes", "convlstm2d", "padding=full"], "Expected one of valid, same but got padding='full'"),
    (["shapes", "convlstm2d", "out_rows=5"], "dimension 'out_rows' is derived"),
    (["shapes"], "give a SPEC"),
    (["shapes", "lstm", "--all"], "--all prints every shipped spec"),
])
def test_cli_shapes_bad_input_is_one_line_exit_2(argv, message, capsys):
    assert main(argv) == 2
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith("lstmspec shapes: error: ") and message in err
    assert "Traceback" not in captured.err and captured.out == ""
