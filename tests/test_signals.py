"""SIGTERM and SIGHUP stop a run as Ctrl-C does: lstmspec/interrupts.py, check's and bench's reports, --jobs helpers.

Each test starts a real ``lstmspec`` process with a kernel that hangs, waits
until the first result is on disk (the streamed ``.partial.jsonl``, or bench's
first progress line), sends a real signal and checks the exit code, the
reports and that no process of the run is left. Processes of the run are found
by an environment variable only they carry (a process left behind is
re-parented, so it cannot be found by parent pid).
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

pytest.importorskip("torch")

HANG = "import time\n\n\ndef lstm(x, state, params, config):\n    time.sleep(3600)\n"


def tagged(tag: str) -> list[int]:
    """Processes whose environment holds ``tag`` (the run's processes, however they were re-parented)."""
    found = []
    needle = tag.encode()
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                if needle in Path(f"/proc/{name}/environ").read_bytes():
                    found.append(int(name))
            except OSError:
                pass
    return found


def start(tmp_path: Path, *args: str) -> tuple[subprocess.Popen, str]:
    (tmp_path / "hang.py").write_text(HANG)
    tag = f"LSTMSPEC_TEST_RUN={uuid.uuid4().hex}"
    env = {**os.environ, "LSTMSPEC_TEST_RUN": tag.partition("=")[2]}
    proc = subprocess.Popen([sys.executable, "-m", "lstmspec", *args], cwd=tmp_path, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return proc, tag


def wait_for(condition, proc: subprocess.Popen, what: str, limit_s: float = 240) -> None:
    deadline = time.monotonic() + limit_s  # a guard against a hung test, not a timing assertion
    while not condition():
        if proc.poll() is not None:
            raise AssertionError(f"lstmspec ended before {what}: {proc.returncode}\n{proc.stderr.read()}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"no {what} within {limit_s} s")
        time.sleep(0.2)


def finish(proc: subprocess.Popen, tag: str) -> tuple[int, str]:
    _, err = proc.communicate(timeout=120)
    deadline = time.monotonic() + 30  # processes being killed may take a moment to leave /proc
    while tagged(tag) and time.monotonic() < deadline:
        time.sleep(0.2)
    return proc.returncode, err


CHECK = ["check", "lstm", "--framework", "torch", "--kernel", "hang.py:lstm", "--json", "out.json",
         "--junit", "j.xml"]


def first_result_streamed(tmp_path: Path):
    partial = tmp_path / "out.json.partial.jsonl"
    return lambda: partial.exists() and partial.stat().st_size > 0


def assert_reports_say_interrupted(tmp_path: Path, signal_name: str) -> None:
    report = json.loads((tmp_path / "out.json").read_text())
    assert report["meta"]["interrupted"] is True and report["meta"]["interrupted_by"] == signal_name
    assert report["results"] and report["meta"]["cases_planned"] > len(report["results"])
    root = ET.parse(tmp_path / "j.xml").getroot()
    errors = [e for e in root.iter("error") if e.get("type") == "lstmspec.interrupted"]
    assert len(errors) == 1 and f"interrupted ({signal_name})" in errors[0].get("message")
    assert not (tmp_path / "out.json.partial.jsonl").exists()


def started_check(tmp_path: Path, jobs: str) -> tuple[subprocess.Popen, str]:
    """``lstmspec check`` on the hanging kernel with ``--jobs jobs``, once its first result is on disk."""
    proc, tag = start(tmp_path, *CHECK, "--jobs", jobs)
    wait_for(first_result_streamed(tmp_path), proc, "first result")
    return proc, tag


def stop_check(proc: subprocess.Popen, tag: str, sig: signal.Signals, code: int, tmp_path: Path) -> str:
    """Send ``sig`` and assert the exit code, reports that say so and no process of the run left; its stderr."""
    proc.send_signal(sig)
    actual, err = finish(proc, tag)
    assert actual == code, err
    assert_reports_say_interrupted(tmp_path, sig.name)
    assert tagged(tag) == []
    return err


def test_sigterm_reports_what_finished_exits_143_and_leaves_no_helper_or_kernel_worker(tmp_path):
    proc, tag = started_check(tmp_path, "2")
    assert len(tagged(tag)) >= 3  # the main process, a --jobs helper, kernel workers
    err = stop_check(proc, tag, signal.SIGTERM, 143, tmp_path)
    assert "interrupted by SIGTERM: reporting the cases that finished" in err and "Traceback" not in err


def test_sighup_is_handled_as_sigterm_exit_129(tmp_path):
    proc, tag = started_check(tmp_path, "1")
    stop_check(proc, tag, signal.SIGHUP, 129, tmp_path)


def test_ctrl_c_still_exits_130_and_its_junit_says_interrupted(tmp_path):
    proc, tag = started_check(tmp_path, "1")
    stop_check(proc, tag, signal.SIGINT, 130, tmp_path)


def test_bench_sigterm_writes_its_json_marked_interrupted_and_exits_143(tmp_path):
    proc, tag = start(tmp_path, "bench", "lstm", "--framework", "reference", "--kernel", "hang.py:lstm", "--quick",
                      "--no-peak", "--case", "batch=2,time=3,input=4,units=5", "--json", "b.json")
    lines: list[str] = []

    def first_row() -> bool:  # bench prints "[1/N] ..." when its first row is done
        lines.append(proc.stderr.readline())
        return lines[-1].startswith("[")

    wait_for(first_row, proc, "first bench row")
    proc.send_signal(signal.SIGTERM)
    code, err = finish(proc, tag)
    assert code == 143, "".join(lines) + err
    meta = json.loads((tmp_path / "b.json").read_text())["meta"]
    assert meta["interrupted"] is True and meta["interrupted_by"] == "SIGTERM"
    assert tagged(tag) == []
