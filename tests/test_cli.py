"""The command line: --help everywhere, python -m, exit codes, one-line errors for bad input."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lstmspec.cli import build_parser, main

SUBCOMMANDS = ["shapes", "equations", "lint", "list"]


@pytest.mark.parametrize("command", SUBCOMMANDS)
def test_every_subcommand_has_help(command, capsys):
    with pytest.raises(SystemExit) as info:
        main([command, "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: lstmspec {command}")
    assert len(out.splitlines()) > 3


def test_parser_knows_every_subcommand():
    parser = build_parser()
    text = parser.format_help()
    for command in SUBCOMMANDS:
        assert command in text


def test_no_command_prints_help_and_exits_2(capsys):
    assert main([]) == 2
    assert "usage: lstmspec" in capsys.readouterr().out


def test_unknown_subcommand_is_one_line_and_exit_2(capsys):
    with pytest.raises(SystemExit) as info:
        main(["frobnicate"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "invalid choice" in err


def test_python_dash_m_runs_the_cli():
    done = subprocess.run([sys.executable, "-m", "lstmspec", "list"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "convlstm2d" in done.stdout and "lstm_peephole" in done.stdout


def test_unknown_spec_lists_the_shipped_ones(capsys):
    assert main(["equations", "lstmm"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "unknown spec 'lstmm'; available: cnn_convlstm, cnn_lstm, convlstm1d" in err


def test_missing_spec_file_is_one_line_exit_2(tmp_path, capsys):
    assert main(["equations", str(tmp_path / "missing.toml")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no such spec file" in err


def test_malformed_toml_is_one_line_exit_2(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text("[spec\nname = 1\n")
    assert main(["equations", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "malformed TOML" in err and "bad.toml:1" in err


def test_list_shows_every_shipped_spec_with_its_title(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name in ["lstm", "lstm_peephole", "convlstm1d", "convlstm2d", "convlstm3d", "convlstm2d_peephole"]:
        assert name in out


# ------------------------------------------------------------ outputs and streams
LSTM = ["check", "lstm", "--framework", "torch.nn.LSTM(batch_first=False)", "--case", "batch=3,time=5,input=4,units=6"]


def lstmspec_run(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lstmspec", *args], text=True, timeout=300, **kwargs)


def test_stdout_on_a_full_disk_is_one_line_and_exit_2():
    with open("/dev/full", "w") as full:
        done = lstmspec_run("list", stdout=full, stderr=subprocess.PIPE)
    assert done.returncode == 2
    assert done.stderr.splitlines() == ["lstmspec list: error: cannot write to stdout: No space left on device"]


def test_help_on_a_full_disk_is_not_exit_0():
    with open("/dev/full", "w") as full:
        done = lstmspec_run("--help", stdout=full, stderr=subprocess.PIPE)
    assert done.returncode == 2 and len(done.stderr.splitlines()) == 1


def test_a_reader_that_leaves_early_gets_no_traceback_and_no_exception_message():
    """``lstmspec list | head -0``: the pipe is closed before lstmspec writes, so its write gets EPIPE."""
    proc = subprocess.Popen([sys.executable, "-m", "lstmspec", "list"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    proc.stdout.close()
    err = proc.stderr.read()
    assert proc.wait(timeout=300) == 2
    assert err == ""


@pytest.mark.parametrize("args, expected", [
    (["equations", "lstm", "-o", "{d}"], "--output {d}: is a folder"),
    (["equations", "lstm", "-o", "{d}/nodir/x.md"], "--output {d}/nodir/x.md: folder {d}/nodir does not exist"),
    (["shapes", "lstm", "-o", "/proc/version"], "--output /proc/version: cannot write in /proc"),
    (["equations", "lstm", "-o", "/dev/full"], "cannot write /dev/full: No space left on device"),
    (["equations", "{long}"], "(100005 characters): File name too long"),
    (["check", "lstm", "--json", "{long}"], "(100005 characters): File name too long"),
])
def test_an_output_or_input_path_that_cannot_be_used_is_one_line_and_exit_2(tmp_path, capsys, args, expected):
    fill = {"d": str(tmp_path), "long": "a" * 100_000 + ".toml"}
    assert main([a.format(**fill) for a in args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and expected.format(**fill) in err[0] and len(err[0]) < 300


@pytest.mark.parametrize("option, path, expected", [
    ("--json", "{d}/", "names a folder"),
    ("--junit", "{d}", "is a folder"),
    ("--report", "{d}/afile", "is not a folder"),
    ("--json", "{d}/nodir/a.json", "does not exist"),
    ("--json", "/proc/version", "cannot write in /proc"),
    ("--report", "/dev/full", "is not a folder"),
])
def test_check_refuses_a_bad_report_path_before_anything_runs(tmp_path, capsys, option, path, expected):
    (tmp_path / "afile").write_text("x")
    path = path.format(d=tmp_path)
    assert main([*LSTM, option, path]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [err[0]] and err[0].startswith(f"lstmspec check: error: {option} {path}") and expected in err[0]


@pytest.mark.parametrize("option, path, expected", [
    ("--json", "{d}", "is a folder"),
    ("--report", "{d}/afile", "is not a folder"),
])
def test_bench_refuses_a_bad_report_path_before_anything_runs(tmp_path, capsys, option, path, expected):
    (tmp_path / "afile").write_text("x")
    assert main(["bench", "lstm", "--quick", "--no-peak", option, path.format(d=tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and expected in err[0]


def test_a_report_that_cannot_be_written_loses_no_other_and_leaves_no_partial_file(tmp_path, capsys):
    pytest.importorskip("torch")
    junit, report = tmp_path / "j.xml", tmp_path / "rep"
    code = main([*LSTM, "--json", "/dev/full", "--junit", str(junit), "--report", str(report), "-q"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert err[-1] == "lstmspec check: error: cannot write /dev/full: No space left on device"
    assert "<testcase" in junit.read_text() and (report / "conformance-cpu.md").exists()
    assert not Path("/dev/full.partial.jsonl").exists()


def test_the_partial_results_file_is_removed_after_a_complete_run(tmp_path, capsys):
    pytest.importorskip("torch")
    out = tmp_path / "out.json"
    assert main([*LSTM, "--json", str(out), "-q"]) == 0
    assert json.loads(out.read_text())["meta"]["interrupted"] is False
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]


# ------------------------------------------------------------------ command lines
@pytest.mark.parametrize("args, expected", [
    (["--shard", "²/4"], "argument --shard: expected K/N such as 2/4 but got '²/4'"),
    (["--shard", "0/4"], "1 <= K <= N"),
    (["--shard", "5/4"], "1 <= K <= N"),
    (["--shard", "1/0"], "1 <= K <= N"),
    (["--timeout", "nan"], "argument --timeout: expected a positive number of seconds but got 'nan'"),
    (["--timeout", "inf"], "positive number of seconds"),
    (["--timeout", "0"], "positive number of seconds"),
    (["--timeout", "-1"], "positive number of seconds"),
    (["--where", "unit=3"], "--where 'unit': no dimension, attribute or option of that name in lstm; known: batch"),
    (["--where", "state=maybe"], "one of random, zeros"),
    (["--where", "units"], "Expected --where NAME=VALUE"),
])
def test_a_bad_check_option_is_one_line_and_exit_2(capsys, args, expected):
    assert exit_code(["check", "lstm", "--framework", "torch", "--list", *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and expected in err[0]


def exit_code(argv: list[str]) -> int:
    """main's exit code, whether it returns it or argparse raises SystemExit."""
    try:
        return main(argv)
    except SystemExit as exc:
        return exc.code


def test_a_where_name_is_valid_when_any_checked_spec_has_it(capsys):
    assert main(["check", "lstm", "convlstm1d", "--framework", "torch,keras", "--where", "filters=4", "--list"]) == 0
    out = capsys.readouterr().out
    assert "(excluded by --where)" in out
    assert main(["check", "lstm", "--framework", "torch", "--where", "filters=4", "--list"]) == 2


def test_jobs_are_capped_by_cores_and_memory_with_a_note():
    from lstmspec.check.parallel import available_cpus, cap_jobs

    jobs, note = cap_jobs(100_000)
    assert 1 <= jobs <= available_cpus()
    assert note is not None and note.startswith("--jobs 100000: running ") and "usable CPU cores" in note
    assert cap_jobs(1) == (1, None)


def test_control_characters_typed_by_the_user_do_not_split_the_error_line(capsys):
    assert main(["shapes", "lstm", "batch=0\r0"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "batch=0\\r0" in err


def test_check_and_bench_help_name_the_files_they_write_and_every_exit_code():
    def help_of(command: str) -> str:
        ran = subprocess.run([sys.executable, "-m", "lstmspec", command, "--help"], capture_output=True, text=True,
                             env={**os.environ, "COLUMNS": "200"}, timeout=120)
        assert ran.returncode == 0, ran.stderr
        return " ".join(ran.stdout.split())

    check = help_of("check")
    assert "DIR/conformance-DEVICE.md (DIR/conformance.md when several devices ran)" in check
    assert "lstmspec/schemas/check.json" in check and "-v, --verbose" in check
    bench = help_of("bench")
    assert "plots (PNG and SVG)" in bench and "lstmspec/schemas/bench.json" in bench and "-v, --verbose" in bench
    for text in (check, bench):
        assert "128+N stopped by signal N (130 Ctrl-C, 143 SIGTERM)" in text


def test_check_help_names_every_framework_there_is(capsys):
    from lstmspec.adapters.base import FRAMEWORKS, all_adapters

    all_adapters()
    with pytest.raises(SystemExit):
        main(["check", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert [name for name in FRAMEWORKS if name not in text] == []
