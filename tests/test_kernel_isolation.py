"""A user kernel can neither end nor corrupt a check: lstmspec/kernels/isolation.py, processes.py, state.py.

Each test writes a small hostile kernel (the patterns an audit of real and
faulty kernels found) and runs ``lstmspec check`` on one or two cases.
"""
from __future__ import annotations

import json
import os
import textwrap
import time
from pathlib import Path

import pytest

pytest.importorskip("torch")

from lstmspec.cli import main  # noqa: E402
from lstmspec.machine import parse_memory  # noqa: E402

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "lstm_from_scratch.py"
CASE = "batch=3,time=5,input=4,units=6"
CASE_B1 = "batch=1,time=5,input=4,units=6"


def kernel_file(tmp_path: Path, body: str, name: str = "k.py") -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(body))
    return str(path)


def check(*args: str) -> int:
    return main(["check", "lstm", "--dtype", "float64", "--no-grad", "-q", *args])


def correct_kernel_source() -> str:
    return f"""
        import importlib.util, torch
        _spec = importlib.util.spec_from_file_location("example_lstm", {str(EXAMPLE)!r})
        _example = importlib.util.module_from_spec(_spec)
        _spec.loader.exec_module(_example)
        """


@pytest.mark.parametrize("body, said", [
    ("raise SystemExit(0)\n", "sys.exit(0)"),
    ("import sys\nsys.exit(3)\n", "sys.exit(3)"),
    ("import os\nos._exit(0)\n", "exit code 0"),
    ("import os\nos._exit(5)\n", "exit code 5"),
    ("raise KeyboardInterrupt\n", "KeyboardInterrupt"),
    ("raise RuntimeError('no GPU here')\n", "RuntimeError: no GPU here"),
    ("import time\ntime.sleep(600)\n", "did not finish within 3 s"),
])
@pytest.mark.parametrize("isolate", [True, False])
def test_a_kernel_file_that_exits_raises_or_hangs_at_import_stops_the_run_with_exit_2(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], body: str, said: str, isolate: bool) -> None:
    ref = kernel_file(tmp_path, body + "def lstm(x, state, params, config):\n    return x, state\n") + ":lstm"
    started = time.monotonic()
    code = check("--kernel", ref, "--case", CASE, "--timeout", "3", *([] if isolate else ["--no-isolate"]))
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and "k.py" in err[0] and said in err[0], err
    assert time.monotonic() - started < 60


def test_systemexit_inside_the_kernel_call_fails_that_case_with_no_isolate(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ref = kernel_file(tmp_path, """
        def lstm(x, state, params, config):
            raise SystemExit(0)
        """) + ":lstm"
    out = tmp_path / "r.json"
    assert check("--kernel", ref, "--case", CASE, "--no-isolate", "--json", str(out)) == 1
    (case,) = json.loads(out.read_text())["results"]
    assert case["status"] == "fail" and "SystemExit" in case["reason"]


@pytest.mark.parametrize("isolate", [True, False])
def test_keyboardinterrupt_raised_by_the_kernel_is_its_failure_not_an_interrupted_run(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], isolate: bool) -> None:
    ref = kernel_file(tmp_path, """
        def lstm(x, state, params, config):
            raise KeyboardInterrupt
        """) + ":lstm"
    out = tmp_path / "r.json"
    code = check("--kernel", ref, "--case", CASE, "--json", str(out), *([] if isolate else ["--no-isolate"]))
    assert code == 1
    (case,) = json.loads(out.read_text())["results"]
    assert case["status"] == "fail" and "raised KeyboardInterrupt" in case["reason"]
    assert "Traceback" not in capsys.readouterr().err


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has ended; only its parent's wait is missing


def test_processes_the_kernel_starts_are_ended_after_its_case(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    ref = kernel_file(tmp_path, f"""
        import subprocess
        def lstm(x, state, params, config):
            child = subprocess.Popen(["sleep", "600"], start_new_session=False)
            with open({str(pids)!r}, "a") as f:
                f.write(f"{{child.pid}}\\n")
            raise ValueError("left a child behind")
        """) + ":lstm"
    assert check("--kernel", ref, "--case", CASE, "--case", CASE_B1) == 1
    started = [int(p) for p in pids.read_text().split()]
    assert len(started) == 2
    deadline = time.monotonic() + 10
    while any(_alive(p) for p in started) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(p) for p in started)


def test_what_the_kernel_prints_is_shown_with_its_case_not_mixed_into_stdout(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ref = kernel_file(tmp_path, """
        import sys
        print("MARKER-AT-IMPORT")
        def lstm(x, state, params, config):
            print("MARKER-" + "x" * 100000)
            print("MARKER-ERR", file=sys.stderr)
            raise ValueError("printed and failed")
        """) + ":lstm"
    out = tmp_path / "r.json"
    assert check("--kernel", ref, "--case", CASE, "--json", str(out)) == 1
    captured = capsys.readouterr()
    report_lines = [line for line in captured.out.splitlines() if "MARKER" in line]
    assert report_lines and all(line.startswith("        | ") and len(line) < 200 for line in report_lines)
    assert "MARKER" not in captured.err
    (case,) = json.loads(out.read_text())["results"]
    assert "MARKER-ERR" in case["output"] and len(case["output"]) < 3000  # truncated, its tail kept


def test_a_kernel_over_the_memory_cap_fails_its_case(tmp_path: Path) -> None:
    ref = kernel_file(tmp_path, """
        import numpy as np, time
        def lstm(x, state, params, config):
            hog = np.ones(400 * 2**20 // 8 * 8)  # 3.2 GB, touched
            time.sleep(5)
            return x, state
        """) + ":lstm"
    out = tmp_path / "r.json"
    assert check("--kernel", ref, "--case", CASE, "--json", str(out), "--max-memory", "2G") == 1
    (case,) = json.loads(out.read_text())["results"]
    assert case["status"] == "fail" and "over the cap of 2.00 GiB (--max-memory" in case["reason"]


def test_after_two_timeouts_in_a_row_the_remaining_cases_are_not_waited_for(tmp_path: Path) -> None:
    ref = kernel_file(tmp_path, """
        import time
        def lstm(x, state, params, config):
            time.sleep(600)
        """) + ":lstm"
    out = tmp_path / "r.json"
    cases = [f"batch={b},time=5,input=4,units=6" for b in (1, 2, 3, 4)]
    started = time.monotonic()
    code = check("--kernel", ref, *[a for c in cases for a in ("--case", c)], "--timeout", "2", "--json", str(out))
    elapsed = time.monotonic() - started
    assert code == 1
    reasons = [r["reason"] for r in json.loads(out.read_text())["results"]]
    assert [("did not return within 2 s" in r) for r in reasons] == [True, True, False, False]
    assert all(r == "not run: timed out on 2 cases in a row (limit 2 s)" for r in reasons[2:])
    assert elapsed < 4 * 2 + 60  # the last two cost nothing (the rest is worker start-up)


def test_a_kernel_that_turns_autograd_off_fails_only_its_own_case(tmp_path: Path) -> None:
    ref = kernel_file(tmp_path, correct_kernel_source() + """
        def lstm(x, state, params, config):
            y, final = _example.lstm(x, state, params, config)
            if x.shape[0] == 1:
                torch.set_grad_enabled(False)  # and never back on
                torch.set_default_dtype(torch.float16)
            return y, final
        lstm.lstmspec_grad = True
        """) + ":lstm"
    out = tmp_path / "r.json"
    main(["check", "lstm", "--dtype", "float64", "-q", "--kernel", ref, "--case", CASE_B1, "--case", CASE,
          "--json", str(out)])
    statuses = [r["status"] for r in json.loads(out.read_text())["results"]]
    assert statuses[1] == "pass"


def test_a_kernel_that_empties_its_input_dicts_is_judged_on_what_it_returns(tmp_path: Path) -> None:
    ref = kernel_file(tmp_path, correct_kernel_source() + """
        def lstm(x, state, params, config):
            y, final = _example.lstm(x, state, params, config)
            state.clear()
            params.clear()
            return y, final
        lstm.lstmspec_grad = True
        """) + ":lstm"
    out = tmp_path / "r.json"
    code = main(["check", "lstm", "--dtype", "float64", "-q", "--kernel", ref, "--case", CASE, "--json", str(out)])
    (case,) = json.loads(out.read_text())["results"]
    assert (code, case["status"]) == (0, "pass"), case["reason"]


@pytest.mark.parametrize("text, expected", [("4G", 4 * 2**30), ("512M", 512 * 2**20), ("1.5GiB", int(1.5 * 2**30)),
                                            ("2000000", 2000000)])
def test_memory_sizes_parse_with_binary_units(text: str, expected: int) -> None:
    assert parse_memory(text) == expected


@pytest.mark.parametrize("text", ["", "G", "-1G", "0", "nan", "inf", "4Q", "²G"])
def test_bad_memory_sizes_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="expected a"):
        parse_memory(text)


def test_a_bad_max_memory_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["check", "lstm", "--max-memory", "lots"])
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--max-memory" in err[0] and "lots" in err[0]


def _children() -> set[int]:
    out = set()
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                stat = Path(f"/proc/{name}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(stat[1]) == os.getpid() and stat[0] != "Z":
                cmdline = Path(f"/proc/{name}/cmdline").read_bytes()
                if b"multiprocessing.resource_tracker" not in cmdline:  # this interpreter's own, ends with it
                    out.add(int(name))
    return out


def test_no_worker_is_left_running_after_a_check(tmp_path: Path) -> None:
    before = _children()
    ref = kernel_file(tmp_path, "def lstm(x, state, params, config):\n    raise ValueError('x')\n") + ":lstm"
    assert check("--kernel", ref, "--case", CASE) == 1
    assert _children() - before == set()


def test_bench_refuses_a_kernel_file_that_exits_at_import_with_exit_2(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ref = kernel_file(tmp_path, "raise SystemExit(0)\n") + ":lstm"
    assert main(["bench", "lstm", "--kernel", ref]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "sys.exit(0)" in err[0]


def test_a_worker_and_what_its_kernel_started_end_when_lstmspec_is_killed(tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys

    pids = tmp_path / "pids"
    ref = kernel_file(tmp_path, f"""
        import os, subprocess, time
        def lstm(x, state, params, config):
            child = subprocess.Popen(["sleep", "600"])
            with open({str(pids)!r} + ".tmp", "w") as f:
                f.write(f"{{os.getpid()}} {{child.pid}}\\n")
            os.replace({str(pids)!r} + ".tmp", {str(pids)!r})  # whole, or not there yet
            time.sleep(600)
        """) + ":lstm"
    run = subprocess.Popen([sys.executable, "-m", "lstmspec", "check", "lstm", "--kernel", ref, "--case", CASE,
                            "--dtype", "float64", "-q"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not pids.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    worker, child = (int(p) for p in pids.read_text().split())
    run.send_signal(signal.SIGKILL)
    run.wait()
    deadline = time.monotonic() + 30
    while (_alive(worker) or _alive(child)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(worker) and not _alive(child)
