"""`lstmspec lint`: shipped specs lint clean; each deliberately broken spec gets one precise message."""
from __future__ import annotations

from pathlib import Path

import pytest

import lstmspec
from lstmspec.cli import main
from lstmspec.errors import SpecError
from lstmspec.spec import shipped_names, specs_dir
from lstmspec.spec.loader import lint_file

LSTM = (specs_dir() / "lstm.toml").read_text()
CONV = (specs_dir() / "convlstm2d.toml").read_text()
PIXEL = (specs_dir() / "pixelrnn_row_lstm.toml").read_text()
ROW = (specs_dir() / "row_lstm.toml").read_text()


def broken(tmp_path: Path, source: str, old: str, new: str, name: str = "broken.toml") -> Path:
    assert old in source, old
    path = tmp_path / name
    path.write_text(source.replace(old, new, 1))
    return path


def errors_of(path: Path) -> list[SpecError]:
    _, findings = lint_file(path, str(path))
    return [f.error for f in findings if f.severity == "error"]


@pytest.mark.parametrize("name", shipped_names())
def test_shipped_spec_lints_clean(name):
    _, findings = lint_file(specs_dir() / f"{name}.toml")
    assert findings == []


def test_lint_command_on_shipped_specs_exits_0(capsys):
    assert main(["lint"]) == 0
    assert "0 error(s), 0 warning(s)" in capsys.readouterr().out


CASES = [
    # (source, old, new, key, message fragment)
    (LSTM, 'i = "recurrent_activation(x @ W_i', 'i = "recurrent_activation(W_i @ x', "equations.i",
     "shape mismatch in `W_i @ x`: (input, units) @ (batch, input): inner dimensions units and batch differ"),
    (LSTM, 'h_t = "o * activation(c_t)"', 'h_t = "o * activation(c_t) + q"', "equations.h_t", "undefined name 'q'"),
    (LSTM, 'g = "activation(x @ W_g', 'g = "activation(x @ W_i', "params.W_g", "param W_g is declared but no equation uses it"),
    (LSTM, 'c = { shape = ["batch", "units"], next = "c_t", doc = "cell state" }',
     'c = { shape = ["batch", "units"], doc = "cell state" }', "states.c", "state c has no update"),
    (LSTM, 'c_t = "f * c + i * g"', 'c_t = "f * c + i * g.T"', "equations.c_t", "attribute access is not allowed"),
    (LSTM, 'c_t = "f * c + i * g"', 'c_t = "f * c + i * softmax(g)"', "equations.c_t", "unknown function 'softmax'"),
    (LSTM, 'b_o = { shape = ["units"]', 'b_o = { shape = ["input"]', "equations.o", "do not broadcast"),
    (CONV, 'conv(h, U_i, padding=same, strides=1, dilation=1)', 'conv(h, U_i)', "equations.i",
     "(batch, out_rows, out_cols, filters) + (batch, valid: floor((out_rows - dilation[0]*(kernel_rows - 1) - 1)"),
    (CONV, 'y = { shape = ["batch", "time", "out_rows"', 'y = { shape = ["batch", "time", "rows"', "outputs.y.step",
     "output y is declared"),
    (LSTM, 'W_i = { shape = ["input", "units"]', 'W_i = { shape = ["inputs", "units"]', "params.W_i.shape",
     "shape entry 'inputs' is not a declared dimension"),
    (LSTM, 'kernel = { concat = ["W_i", "W_f", "W_g", "W_o"] }', 'kernel = { concat = ["W_i", "W_f", "W_g", "W_x"] }',
     "layouts.keras.tensors.kernel", "undeclared parameter 'W_x'"),
    (PIXEL, 'g = "activation(conv(x, W_g, padding=same, strides=1, dilation=1, mask=mask, mask_groups=colours)',
     'g = "activation(conv(x, W_g, padding=same, strides=1, dilation=1, mask=mask, mask_groups=activation)',
     "equations.g", "conv mask_groups=activation must be a positive integer or an int attribute"),
    (PIXEL, 'colours = { type = "int", values = [1, 3], default = 3,', 'colours = { type = "int", values = [1, 3], default = 2,',
     "attributes.colours.default", "Expected one of 1, 3 but got colours=2"),
    (PIXEL, 'colours = { type = "int", values = [1, 3], default = 3,',
     'colours = { type = "int", length = 1, values = [1, 3], default = 3,', "attributes.colours.length",
     "length belongs to an ints attribute (one entry per axis), not to type int"),
    (ROW, 'step = { type = "int", default = 1,', 'step = { type = "int", default = [1],', "attributes.step.default",
     "Expected a positive integer but got step=[1]"),
    # fields of the wrong type: the schema, before anything is built
    (LSTM, 'type = "choice"', 'type = ["choice"]', "attributes.direction.type", "expected a string, got ['choice']"),
    (LSTM, 'values = ["forward", "reverse"]', "values = 5", "attributes.direction.values",
     "expected a list of strings or integers, got 5"),
    (LSTM, 'kernel = { concat = ["W_i", "W_f", "W_g", "W_o"] }', "kernel = { concat = [] }",
     "layouts.keras.tensors.kernel.concat", "expected a non-empty list of parameter names (PARAM or PARAM:PART), got []"),
    (LSTM, 'weight_ih_l0 = { concat = ["W_i", "W_f", "W_g", "W_o"], transpose = true }',
     'weight_ih_l0 = { concat = ["W_i", "W_f", "W_g", "W_o"], permute = 5 }', "layouts.torch.tensors.weight_ih_l0.permute",
     "expected a list of integers >= 0, got 5"),
    (LSTM, 'prepend = [1] }', "prepend = 5 }", "layouts.onnx.tensors.W.prepend", "expected a list of positive integers, got 5"),
    (LSTM, 'prepend = [1] }', "prepend = [-3] }", "layouts.onnx.tensors.W.prepend",
     "expected a list of positive integers, got [-3]"),
    (LSTM, 'axis = "time"', 'axis = ["time"]', "recurrence.axis", "expected a string, got ['time']"),
    (LSTM, 'x = { shape = ["batch", "time", "input"]', 'x = { shape = 5', "inputs.x.shape",
     "expected a list of dimension names or positive integers, got 5"),
    (LSTM, 'x = { shape = ["batch", "time", "input"], doc = "input sequence" }', "x = 5", "inputs.x",
     "expected a list of dimension names or positive integers or a table with shape = [dims...], got 5"),
    (LSTM, 'h = { shape = ["batch", "units"], next = "h_t"', 'h = { shape = ["batch", "units"], nxt = "h_t"',
     "states.h.nxt", "unknown field 'nxt' (fields: shape, doc, next)"),
    (LSTM, 'b_i:1', 'b_i:99999999999999999999', "layouts.torch",
     "parameter b_i is split into parts [0, 99999999999999999999]; parts must be 0..1"),
    # what only evaluating the dimensions finds
    (LSTM, 'units = { doc = "hidden units (size of h and c)", default = 6 }',
     'units = { doc = "hidden units (size of h and c)", default = 6 }\nspare = { doc = "x", formula = "units - 10" }',
     "dims.spare", "dimension spare = units - 10 is -4 at the default sizes; a size is at least 1"),
    (LSTM, 'units = { doc = "hidden units (size of h and c)", default = 6 }',
     'units = { doc = "hidden units (size of h and c)", default = 6 }\nspare = { doc = "x", formula = "units // 0" }',
     "dims.spare.formula", "division by zero"),
    (CONV, 'conv = { size = "cols", kernel = "kernel_cols", axis = 1 }', 'conv = { size = "cols", kernel = "kernel_cols", axis = 2 }',
     "dims.out_cols.conv", "conv axis 2 has no entry in attribute strides (2 entries, axes 0..1)"),
    # non-ASCII look-alikes, one error (the gate of the equation is not reported again)
    (LSTM, 'i = "recurrent_activation(x @ W_i', 'i = "recurrent_activation(x @ Ｗ_i', "equations.i",
     "non-ASCII letter 'Ｗ' (FULLWIDTH LATIN CAPITAL LETTER W) in identifier; did you mean 'W_i'?"),
]


@pytest.mark.parametrize("case", [c for c in CASES if c[3]], ids=lambda c: c[4][:40])
def test_broken_spec_gets_exactly_one_precise_error(tmp_path, case):
    source, old, new, key, message = case
    path = broken(tmp_path, source, old, new)
    errors = errors_of(path)
    assert len(errors) == 1, [str(e) for e in errors]
    (error,) = errors
    assert message in error.message
    assert error.key == key
    assert error.file == str(path)
    assert error.line is not None and key.split(".")[-1] in path.read_text().splitlines()[error.line - 1]


def test_a_wrong_state_shape_is_reported_in_every_equation_that_uses_it(tmp_path):
    path = broken(tmp_path, LSTM, 'h = { shape = ["batch", "units"], next = "h_t"', 'h = { shape = ["batch", "input"], next = "h_t"')
    errors = errors_of(path)
    assert [e.key for e in errors] == ["equations.i", "equations.f", "equations.g", "equations.o"]
    assert all("(batch, input) @ (units, units): inner dimensions input and units differ" in e.message for e in errors)


def test_cycle_is_reported_with_its_path(tmp_path):
    path = broken(tmp_path, LSTM, 'i = "recurrent_activation(x @ W_i + h @ U_i + b_i)"',
                  'i = "recurrent_activation(x @ W_i + h @ U_i + b_i + o)"')
    path.write_text(path.read_text().replace('o = "recurrent_activation(x @ W_o + h @ U_o + b_o)"',
                                             'o = "recurrent_activation(x @ W_o + h @ U_o + b_o + i)"'))
    errors = errors_of(path)
    assert len(errors) == 1
    assert "equations form a cycle: i -> o -> i" in errors[0].message


def test_unused_equation_is_a_warning_not_an_error(tmp_path):
    path = broken(tmp_path, LSTM, 'h_t = "o * activation(c_t)"', 'h_t = "o * activation(c_t)"\nz = "x @ W_i"')
    _, findings = lint_file(path, str(path))
    assert [f.severity for f in findings] == ["warning"]
    assert "equation z is computed but no state or output depends on it" in str(findings[0])


def test_load_spec_refuses_a_broken_spec_with_file_key_and_line(tmp_path):
    path = broken(tmp_path, LSTM, 'i = "recurrent_activation(x @ W_i', 'i = "recurrent_activation(W_i @ x')
    with pytest.raises(SpecError) as info:
        lstmspec.load_spec(path)
    text = str(info.value)
    assert text.startswith(str(path) + ":")
    assert "[equations.i]" in text and "W_i @ x" in text


def test_malformed_toml_names_the_line(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('[spec]\nname = "x"\ntitle = \n')
    (error,) = errors_of(path)
    assert error.line == 3 and "malformed TOML" in error.message


def test_unknown_table_and_missing_pieces_are_spec_errors(tmp_path):
    path = broken(tmp_path, LSTM, "[gates]", "[gatez]")
    (error,) = errors_of(path)
    assert "unknown table 'gatez'" in error.message


def test_lint_command_reports_every_file_and_exits_1(tmp_path, capsys):
    bad = broken(tmp_path, LSTM, 'i = "recurrent_activation(x @ W_i', 'i = "recurrent_activation(W_i @ x', "a.toml")
    broken(tmp_path, LSTM, 'h_t = "o * activation(c_t)"', 'h_t = "o * activation(c_t) + q"', "b.toml")
    assert main(["lint", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "a.toml:" in err and "b.toml:" in err and "2 error(s)" in err
    assert main(["lint", str(bad)]) == 1


def test_lint_of_a_missing_file_is_one_line_and_exit_2(tmp_path, capsys):
    assert main(["lint", str(tmp_path / "nope.toml")]) == 2
    err = capsys.readouterr().err
    assert err.splitlines() == [f"lstmspec lint: error: {tmp_path / 'nope.toml'}: no such spec file"]


def test_lint_of_a_directory_goes_on_after_a_file_that_used_to_crash_it(tmp_path, capsys):
    broken(tmp_path, LSTM, 'c_t = "f * c + i * g"', 'c_t = "f * c + i * g' + ' + c' * 600 + '"', "a.toml")
    broken(tmp_path, LSTM, 'type = "choice"', 'type = ["choice"]', "b.toml")
    broken(tmp_path, LSTM, 'h_t = "o * activation(c_t)"', 'h_t = "o * activation(c_t) + q"', "c.toml")
    assert main(["lint", str(tmp_path)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert [line.split(":")[0].rsplit("/", 1)[-1] for line in err[:3]] == ["a.toml", "b.toml", "c.toml"]
    assert "nests 602 operations deep" in err[0] and err[-1] == "3 file(s), 3 error(s), 0 warning(s)"


def test_shapes_of_a_broken_spec_is_one_line_and_exit_2(tmp_path, capsys):
    path = broken(tmp_path, LSTM, 'prepend = [1] }', "prepend = 5 }")
    assert main(["shapes", str(path)]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.endswith("[layouts.onnx.tensors.W.prepend] expected a list of positive integers, got 5")


def test_a_newline_in_a_value_stays_escaped_on_the_one_line_of_the_error(tmp_path):
    path = broken(tmp_path, LSTM, 'W_i = { shape = ["input", "units"]', 'W_i = { shape = ["in\\nput", "units"]')
    (error,) = errors_of(path)
    assert "\n" not in str(error) and "shape entry 'in\\nput' is not a declared dimension" in str(error)
