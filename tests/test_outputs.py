"""Output paths checked before a run, files written atomically: lstmspec/outputs.py."""
from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from lstmspec.outputs import (OutputError, atomic_write, check_dir_target, check_distinct, check_file_target,
                              is_regular_target, shown)


def test_a_new_file_in_an_existing_folder_is_a_valid_target(tmp_path):
    assert check_file_target(str(tmp_path / "out.json"), "--json") == tmp_path / "out.json"
    assert list(tmp_path.iterdir()) == []  # the probe leaves nothing behind


@pytest.mark.parametrize("make, why", [
    (lambda d: str(d), "is a folder"),
    (lambda d: str(d / "sub") + "/", "names a folder"),
    (lambda d: str(d / "missing" / "a.json"), "does not exist"),
    (lambda d: "/proc/version", "cannot write in /proc"),
    (lambda d: str(d / ("a" * 100_000)), "name too long"),
    (lambda d: str(d / "file.txt" / "a.json"), "Not a directory"),
    (lambda d: "", "an empty path"),
])
def test_a_file_target_that_cannot_be_written_is_refused_with_its_reason(tmp_path, make, why):
    (tmp_path / "sub").mkdir()
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(OutputError) as info:
        check_file_target(make(tmp_path), "--json")
    message = str(info.value)
    assert message.startswith("--json ") and why.lower() in message.lower()
    assert "\n" not in message and len(message) < 300


def test_a_device_is_a_valid_file_target_but_not_a_folder():
    assert check_file_target("/dev/full", "--junit") == Path("/dev/full")
    assert not is_regular_target("/dev/full")
    with pytest.raises(OutputError, match="is not a folder"):
        check_dir_target("/dev/full", "--report")


def test_a_report_folder_may_be_created_but_not_under_a_file(tmp_path):
    assert check_dir_target(str(tmp_path / "a" / "b"), "--report") == tmp_path / "a" / "b"
    assert not (tmp_path / "a").exists()  # checked, not created
    (tmp_path / "f").write_text("x")
    with pytest.raises(OutputError, match="is not a folder"):
        check_dir_target(str(tmp_path / "f"), "--report")
    with pytest.raises(OutputError, match="Not a directory"):
        check_dir_target(str(tmp_path / "f" / "sub"), "--report")


def test_two_options_naming_one_file_are_refused(tmp_path):
    with pytest.raises(OutputError, match="also given to --json"):
        check_distinct([("--json", str(tmp_path / "r")), ("--junit", str(tmp_path / ".." / tmp_path.name / "r"))])
    check_distinct([("--json", str(tmp_path / "a")), ("--junit", None)])


def test_a_long_path_is_shown_cut_with_its_length():
    text = shown("x" * 100_000)
    assert len(text) < 120 and "100000 characters" in text


def test_atomic_write_replaces_the_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "deep" / "r.json"
    atomic_write(target, "one")
    atomic_write(target, b"two")
    assert target.read_text() == "two"
    assert [p.name for p in target.parent.iterdir()] == ["r.json"]
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~mask


def test_a_write_that_fails_keeps_the_previous_file_and_removes_the_temporary(tmp_path):
    """A real failing write: the file size limit (RLIMIT_FSIZE) makes write() fail with EFBIG."""
    target = tmp_path / "r.json"
    target.write_text("previous")
    code = textwrap.dedent(f"""
        import resource, signal, sys
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (1000, 1000))
        from lstmspec.outputs import OutputError, atomic_write
        try:
            atomic_write({str(target)!r}, "x" * 100_000)
        except OutputError as exc:
            print(exc)
            sys.exit(3)
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 3, done.stderr
    assert done.stdout.startswith(f"cannot write {target}: File too large")
    assert target.read_text() == "previous"
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_a_failing_write_to_a_device_is_one_line():
    with pytest.raises(OutputError, match="^cannot write /dev/full: No space left on device$"):
        atomic_write("/dev/full", "x" * 10_000)
