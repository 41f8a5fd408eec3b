"""Hypothesis-drawn command lines: every outcome is exit 0, 1 or 2, an error is one line on stderr, never a traceback.

The argument strings are drawn where users make mistakes: option values
(numbers in other scripts, ``nan``, huge, empty, separators), ``NAME=VALUE``
words and spec names. ``check`` and ``bench`` run with ``--list``, so what is
exercised is the parsing and validation of the command line, not a run;
nothing is written (no ``-o``, ``--json``).
"""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lstmspec.cli import main

pytest.importorskip("torch")

FUZZ = settings(max_examples=60, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

#: pieces that make the interesting strings: digits of other scripts, signs, separators, special floats
PIECES = st.sampled_from(["0", "1", "2", "4", "16", "-1", "1e309", "nan", "inf", "-inf", "²", "٣", "１", "/", "=",
                          ",", "x", "3x3", "batch", "units", "padding", "same", "true", "False", " ", "", "\t",
                          "9" * 30, "0.5", "-0", "+2", "_", "\u200b", "ß", "..", "~"])
WORD = st.one_of(st.lists(PIECES, max_size=5).map("".join), st.text(max_size=12))
NAMES = st.sampled_from(["batch", "time", "input", "units", "direction", "activation", "recurrent_activation",
                         "state", "return_sequences", "scale", "filters", "kernel_size", "padding", "rows", "unit"])
ASSIGNMENT = st.one_of(st.builds(lambda n, v: f"{n}={v}", NAMES, WORD), WORD)

CHECK_OPTIONS = ["--shard", "--timeout", "--where", "--jobs", "--fuzz", "--seed", "--case", "--dtype", "--device",
                 "--framework", "--max-memory"]
BENCH_OPTIONS = ["--threads", "--seed", "--warmup", "--min-time", "--max-time", "--threshold", "--case", "--dtype",
                 "--device", "--suite", "--framework"]


def outcome(argv: list[str], capsys) -> tuple[int, list[str]]:
    capsys.readouterr()
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's usage errors
        code = exc.code
    return code, capsys.readouterr().err.strip().splitlines()


def assert_clean(argv: list[str], code: int, err: list[str]) -> None:
    assert code in (0, 1, 2), (argv, code, err)
    assert not any("Traceback" in line for line in err), (argv, err)
    if code == 2:
        assert len(err) == 1, (argv, err)


@FUZZ
@given(options=st.lists(st.tuples(st.sampled_from(CHECK_OPTIONS), WORD), min_size=1, max_size=3),
       spec=st.sampled_from(["lstm", "convlstm1d", "lstm_peephole"]))
def test_check_option_values_end_in_an_exit_code_never_a_traceback(capsys, options, spec):
    argv = ["check", spec, "--framework", "torch", "--list"] + [x for pair in options for x in pair]
    assert_clean(argv, *outcome(argv, capsys))


@FUZZ
@given(options=st.lists(st.tuples(st.sampled_from(BENCH_OPTIONS), WORD), min_size=1, max_size=3))
def test_bench_option_values_end_in_an_exit_code_never_a_traceback(capsys, options):
    argv = ["bench", "lstm", "--framework", "reference", "--list", "--no-peak"] + [x for pair in options for x in pair]
    assert_clean(argv, *outcome(argv, capsys))


@FUZZ
@given(assignments=st.lists(ASSIGNMENT, max_size=4), spec=st.sampled_from(["lstm", "convlstm2d", "gru_like"]))
def test_shapes_assignments_end_in_an_exit_code_never_a_traceback(capsys, assignments, spec):
    argv = ["shapes", spec, *assignments]
    assert_clean(argv, *outcome(argv, capsys))


@FUZZ
@given(name=WORD, command=st.sampled_from(["equations", "shapes"]))
def test_spec_names_end_in_an_exit_code_never_a_traceback(capsys, name, command):
    argv = [command, name]
    assert_clean(argv, *outcome(argv, capsys))
