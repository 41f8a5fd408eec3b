"""`lstmspec trace`: the forward pass cell by cell (grid) or step by step (sequence), for every shipped spec.

Pinned: mdlstm2d on the 2x2 image of Jae Duk Seo's "Only Numpy" forward pass
prints cells (1,1), (1,2), (2,1),
(2,2) in that order with every gate, and says where each predecessor comes
from; the printed numbers are the plain evaluator's and equal the reference's;
every shipped spec traces; bad input is one line, exit 2. The command is run
through ``lstmspec.cli.trace.main`` (the same parser ``lstmspec trace`` registers).
"""
from __future__ import annotations

import re

import numpy as np
import pytest

import lstmspec
from lstmspec.cli.trace import main
from lstmspec.trace import trace_text


def test_mdlstm2d_on_a_2x2_image_goes_cell_by_cell_in_order():
    text = trace_text(lstmspec.load_spec("mdlstm2d"))
    assert "sizes: batch=1 rows=2 cols=2 channels=1 units=2" in text
    cells = re.findall(r"^cell \((\d), (\d)\):$", text, flags=re.M)
    assert cells == [("1", "1"), ("1", "2"), ("2", "1"), ("2", "2")]
    first = text.split("cell (1, 1):")[1].split("cell (1, 2):")[0]
    for gate in ("i", "f_up", "f_left", "g", "o"):
        assert re.search(rf"^  {gate} +=", first, flags=re.M), f"gate {gate} missing in cell (1, 1)"
    assert "h_up = " in first and "(boundary h_row0)" in first and "(boundary h_col0)" in first
    last = text.split("cell (2, 2):")[1]
    assert "(h of cell (1, 2))" in last and "(h of cell (2, 1))" in last
    assert "the traced values equal lstmspec's reference" in text


def test_the_printed_cell_values_are_the_references():
    spec = lstmspec.load_spec("mdlstm2d")
    text = trace_text(spec, seed=3)
    printed = re.search(r"cell \(2, 2\):.*?^  h_t +=\s+\[([^\]]+)\]", text, flags=re.M | re.S).group(1)
    rng = np.random.default_rng(3)
    params = spec.random_params({}, rng, **spec.example)
    x, state = spec.random_inputs({}, rng, **spec.example)
    y, _ = spec.reference(x, state, params)
    np.testing.assert_allclose([float(v) for v in printed.split(",")], y[0, 1, 1], atol=5e-5)


def test_scan_direction_changes_the_order_and_the_boundaries_read():
    text = trace_text(lstmspec.load_spec("mdlstm2d"), attrs={"direction": "up_left"})
    cells = re.findall(r"^cell \((\d), (\d)\):$", text, flags=re.M)
    assert cells == [("2", "2"), ("2", "1"), ("1", "2"), ("1", "1")]
    assert "(h of cell (2, 2))" in text.split("cell (2, 1):")[1]


def test_lstm_prints_the_first_timesteps():
    text = trace_text(lstmspec.load_spec("lstm"), {"units": 2}, steps=2)
    assert re.findall(r"^step (\d):$", text, flags=re.M) == ["1", "2"]
    assert "h (before) = " in text and "... 3 more steps" in text
    assert re.search(r"^  i +\= sigmoid\(\[.*\]\) = \[", text, flags=re.M)


def test_convlstm2d_prints_the_first_pixels():
    text = trace_text(lstmspec.load_spec("convlstm2d"), steps=1, pixels=2)
    assert re.findall(r"^ pixel \((\d), (\d)\):$", text, flags=re.M) == [("1", "1"), ("1", "2")]


def test_row_lstm_says_which_row_each_step_reads():
    text = trace_text(lstmspec.load_spec("row_lstm"), {"rows": 4}, {"step": 2}, steps=2)
    assert "step 1: x = rows(image)[1]" in text and "step 2: x = rows(image)[2]" in text


@pytest.mark.parametrize("name", lstmspec.shipped_names())
def test_every_shipped_spec_traces(name):
    text = trace_text(lstmspec.load_spec(name), steps=1)
    assert text.startswith(f"{name}: ")
    match = re.search(r"max difference ([0-9.e+-]+)\)", text)
    assert match and float(match.group(1)) <= 1e-12, text[-300:]


def test_command_line(capsys):
    assert main(["mdlstm2d", "--steps", "2"]) == 0
    out = capsys.readouterr().out
    assert "cell (1, 2):" in out and "cell (2, 1):" not in out and "... 2 more cells" in out


@pytest.mark.parametrize("argv, message", [
    (["lstmm"], "unknown spec 'lstmm'"),
    (["lstm", "unitz=2"], "spec lstm has no dimension or attribute 'unitz'"),
    (["lstm", "--steps", "0"], "Expected --steps N >= 1 but got 0"),
    (["convlstm2d", "data_format=channels_first"], "trace shows channels-last arrays"),
])
def test_bad_input_is_one_line_exit_2(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err, err


def test_a_sequence_too_long_for_the_available_memory_is_refused_before_the_first_step(capsys):
    """The guard counts the reference's tensors and the array the trace keeps for each step, against a stated
    fraction of the memory available now; 10**12 steps need petabytes on any machine."""
    from lstmspec.reference.binding import MEMORY_FRACTION

    assert main(["lstm", "time=1000000000000"]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert re.search(r"lstm with batch=1, time=1000000000000, input=4, units=6 needs about 392.9 TiB for the "
                     r"reference's tensors and one array for each of its 1000000000000 steps; the limit is "
                     rf"{MEMORY_FRACTION:.0%} of the [0-9.]+ [KMGT]iB of memory available now", line), line
