"""``lstmspec defaults`` (lstmspec/defaults.py): framework defaults read from the installed packages, and reports/defaults.md."""
from __future__ import annotations

import inspect
import json
from pathlib import Path

import pytest

import lstmspec
from lstmspec.cli import main
from lstmspec.defaults import SCHEMA, defaults_report, spec_defaults
from lstmspec.spec.catalog import resolve_path

REPORT = Path(__file__).resolve().parents[1] / "reports" / "defaults.md"
REPORT_COMMAND = "lstmspec defaults --all -o reports/defaults.md"


def rows_of(spec: str, layer: str) -> dict[str, object]:
    reports, _ = spec_defaults(lstmspec.load_spec(spec))
    found = [r for r in reports if r.layer == layer]
    assert found, f"{layer} not among {[r.layer for r in reports]}"
    return {row.parameter: row for row in found[0].rows}


def edited(tmp_path: Path, name: str, old: str, new: str) -> str:
    text = resolve_path(name).read_text()
    assert old in text
    path = tmp_path / f"{name}.toml"
    path.write_text(text.replace(old, new))
    return str(path)


def test_tf_keras_convlstm2d_defaults_to_keras2_hard_sigmoid_and_is_marked():
    tf_keras = pytest.importorskip("tf_keras")
    assert inspect.signature(tf_keras.layers.ConvLSTM2D).parameters["recurrent_activation"].default == "hard_sigmoid"
    row = rows_of("convlstm2d", "tf_keras.layers.ConvLSTM2D")["recurrent_activation"]
    assert row.default == "'hard_sigmoid'"
    assert row.value == "hard_sigmoid_keras2"  # clip(0.2x + 0.5), not Keras 3's clip(x/6 + 0.5)
    assert row.spec == "sigmoid" and row.differs


def test_keras3_convlstm2d_defaults_to_sigmoid_and_is_not_marked():
    keras = pytest.importorskip("keras")
    assert inspect.signature(keras.layers.ConvLSTM2D).parameters["recurrent_activation"].default == "sigmoid"
    rows = rows_of("convlstm2d", "keras.layers.ConvLSTM2D")
    assert rows["recurrent_activation"].value == "sigmoid" and not rows["recurrent_activation"].differs
    assert rows["data_format"].value.startswith(keras.config.image_data_format())
    assert rows["unit_forget_bias"].spec is None and not rows["unit_forget_bias"].differs


def test_the_mark_compares_with_the_specs_own_default(tmp_path):
    pytest.importorskip("tf_keras")
    pytest.importorskip("keras")
    old = 'recurrent_activation = { type = "activation", default = "sigmoid"'
    keras2 = edited(tmp_path, "convlstm2d", old, old.replace('"sigmoid"', '"hard_sigmoid_keras2"'))
    reports, _ = spec_defaults(lstmspec.load_spec(keras2))
    marked = {r.layer: {row.parameter for row in r.rows if row.differs} for r in reports}
    assert "recurrent_activation" not in marked["tf_keras.layers.ConvLSTM2D"]
    assert "recurrent_activation" in marked["keras.layers.ConvLSTM2D"]


def test_keras3_hard_sigmoid_in_the_spec_still_differs_from_keras2s(tmp_path):
    pytest.importorskip("tf_keras")
    old = 'recurrent_activation = { type = "activation", default = "sigmoid"'
    keras3 = edited(tmp_path, "convlstm2d", old, old.replace('"sigmoid"', '"hard_sigmoid"'))
    reports, _ = spec_defaults(lstmspec.load_spec(keras3))
    row = next(row for r in reports if r.layer == "tf_keras.layers.ConvLSTM2D" for row in r.rows
               if row.parameter == "recurrent_activation")
    assert row.differs


def test_torch_lstm_defaults_come_from_its_typed_overload():
    pytest.importorskip("torch")
    rows = rows_of("lstm", "torch.nn.LSTM")
    assert rows["batch_first"].value == "time-major" and rows["batch_first"].differs
    assert not rows["bidirectional"].differs and not rows["proj_size"].differs
    projection = rows_of("lstm_projection", "torch.nn.LSTM")
    assert projection["proj_size"].differs  # proj_size=0 is no projection: the LSTMP spec needs one
    assert "typing.get_overloads" in spec_defaults(lstmspec.load_spec("lstm"))[0][0].source


def test_onnx_lstm_layout_is_read_from_the_operator_schema():
    pytest.importorskip("onnx")
    rows = rows_of("lstm", "onnx LSTM operator")
    assert rows["layout"].default == "0" and rows["layout"].differs
    assert rows["direction"].value == "forward" and not rows["direction"].differs


def test_json_output_has_schema_and_integer_version(capsys):
    pytest.importorskip("torch")
    assert main(["defaults", "lstm_projection", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["schema"] == SCHEMA == "lstmspec-defaults" and data["version"] == 1
    assert data["spec"] == "lstm_projection"
    layer = next(layer for layer in data["layers"] if layer["layer"] == "torch.nn.LSTM")
    assert {"parameter", "default", "meaning", "value", "spec", "differs"} <= set(layer["rows"][0])
    assert any(row["differs"] for row in layer["rows"])


def test_terminal_and_markdown_mark_what_differs(capsys):
    pytest.importorskip("torch")
    assert main(["defaults", "lstm"]) == 0
    assert "time-major  <- differs (spec: batch-major)" in capsys.readouterr().out
    assert main(["defaults", "lstm", "--format", "markdown"]) == 0
    assert "| `batch_first` | `False` | time_major | **time-major** (differs) | batch-major |" in capsys.readouterr().out


def test_a_spec_no_framework_layer_implements_says_so(capsys):
    assert main(["defaults", "mdlstm2d"]) == 0
    assert "no installed framework layer implements this spec" in capsys.readouterr().out


@pytest.mark.parametrize(("argv", "message"), [
    (["defaults", "no_such_spec"], "no_such_spec"),
    (["defaults"], "give a SPEC"),
    (["defaults", "lstm", "--all"], "give no SPEC"),
])
def test_bad_command_lines_are_one_line_and_exit_2(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err


def test_an_unknown_format_is_argparses_one_line_exit_2(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["defaults", "lstm", "--format", "xml"])
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "invalid choice: 'xml'" in err and len(err.splitlines()) == 1


def test_reports_defaults_md_is_up_to_date():
    assert REPORT.is_file(), f"reports/defaults.md is missing; run: {REPORT_COMMAND}"
    shipped, fresh = REPORT.read_text(encoding="utf-8"), defaults_report()
    made_with = [line for line in shipped.splitlines() if line.startswith("Made with:")]
    now = [line for line in fresh.splitlines() if line.startswith("Made with:")]
    if made_with != now:
        pytest.skip(f"reports/defaults.md was made with other packages ({made_with[0] if made_with else 'none'}) "
                    f"than these ({now[0]})")
    assert shipped == fresh, f"reports/defaults.md is stale; run: {REPORT_COMMAND}"
