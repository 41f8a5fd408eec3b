"""The command line: --help everywhere, python -m, exit codes, one-line errors for bad input."""
from __future__ import annotations

import subprocess
import sys

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
