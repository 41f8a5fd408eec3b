"""``lstmspec bench``: the timer, suites, peaks, reports, and the command on tiny cases.

No assertion here depends on the real clock (machines are shared and
noisy): the timer is checked on a virtual clock. Its agreement with
``torch.utils.benchmark.Timer`` on a real PyTorch LSTM and on a 10 ms sleep is
measured by ``benchmarks/bench_timer_crosscheck.py`` (``--workload sleep``).
"""
from __future__ import annotations

import json

import pytest

import lstmspec
from lstmspec.bench import suites
from lstmspec.cli.bench import main
from lstmspec.bench.peaks import Peak, from_table, gpu_peak
from lstmspec.bench.report import fmt_time, linear_fit
from lstmspec.bench.timing import TimingOptions, _Clock, _nice_ceiling, measure
from lstmspec.errors import ConfigError

TINY = dict(batch=2, time=3, input=4, units=8)  # the tiny suite's lstm case


# ----------------------------------------------------------------- the timer
class VirtualClock(_Clock):
    """Time that passes only when the workload says so: timings are exact and repeatable."""

    name = "virtual"

    def __init__(self) -> None:
        self.now = 0.0

    def block(self, fn, number):
        start = self.now
        for _ in range(number):
            fn()
        return self.now - start


def workload(clock: VirtualClock, durations):
    calls = iter(range(10**9))

    def fn():
        clock.now += durations(next(calls))

    return fn


def test_constant_work_is_timed_exactly_one_call_per_block():
    clock = VirtualClock()
    m = measure(workload(clock, lambda i: 0.010), TimingOptions(), clock=clock)
    assert m.median == pytest.approx(0.010) and m.iqr == pytest.approx(0.0)
    assert m.number == 1 and m.stable
    assert len(m.samples) >= TimingOptions().min_blocks and m.total_s >= TimingOptions().min_time_s
    assert m.runs == len(m.samples) and m.warmup_runs >= TimingOptions().warmup


def test_short_calls_are_grouped_into_blocks_long_enough_for_the_clock():
    clock = VirtualClock()
    m = measure(workload(clock, lambda i: 10e-6), TimingOptions(block_s=0.001), clock=clock)
    assert m.number == 100  # 1 ms blocks of 10 µs calls
    assert m.median == pytest.approx(10e-6)
    assert m.runs == 100 * len(m.samples)


def test_the_median_ignores_preempted_calls():
    clock = VirtualClock()
    m = measure(workload(clock, lambda i: 0.030 if i % 7 == 3 else 0.010), TimingOptions(), clock=clock)
    assert m.median == pytest.approx(0.010)


def test_unstable_timings_stop_at_the_budget_and_say_so():
    clock = VirtualClock()
    options = TimingOptions(max_time_s=0.5, threshold=0.01)
    m = measure(workload(clock, lambda i: 0.010 if i % 2 else 0.020), options, clock=clock)
    assert not m.stable
    assert 0.5 <= m.total_s < 0.6
    assert "time budget" in m.notes[0]


def test_nice_block_sizes():
    assert [_nice_ceiling(x) for x in (0.5, 1, 1.5, 3, 7, 11, 200, 201, 0.001 / 1e-5)] == [
        1, 1, 2, 5, 10, 20, 200, 500, 100]


@pytest.mark.parametrize("bad", [dict(max_time_s=0), dict(threshold=-1), dict(min_blocks=0),
                                 dict(min_time_s=5, max_time_s=1), dict(warmup=1.5)])
def test_bad_timing_options_say_which(bad):
    with pytest.raises(ConfigError, match="Expected"):
        TimingOptions(**bad).check()


# -------------------------------------------------------------------- suites
def test_roles_are_read_from_the_spec():
    dense = suites.roles(lstmspec.load_spec("lstm"))
    assert (dense.batch, dense.steps, dense.hidden, dense.features, dense.spatial) == (
        "batch", "time", "units", "input", ())
    conv = suites.roles(lstmspec.load_spec("convlstm2d"))
    assert conv.hidden == "filters" and conv.features == "channels"
    assert conv.spatial == ("rows", "cols") and conv.kernel == ("kernel_rows", "kernel_cols")


def test_deepbench_rows_have_input_equal_to_hidden():
    spec = lstmspec.load_spec("lstm")
    cases = suites.SUITES.get("deepbench").cases([spec], explicit=True)
    rows = {(d["units"], d["batch"], d["time"]) for d in (dict(c.dims) for c in cases)}
    for row in [(512, 16, 25), (1024, 64, 25), (2048, 128, 25), (4096, 128, 25), (1536, 8, 50), (1536, 32, 50),
                (256, 16, 150), (256, 64, 150)]:
        assert row in rows
    assert all(dict(c.dims)["input"] == dict(c.dims)["units"] for c in cases)
    assert set(suites.DEEPBENCH_CPU) <= set(suites.DEEPBENCH_LSTM)


def test_deepbench_of_a_convolutional_spec_is_refused():
    with pytest.raises(ConfigError, match="convlstm2d has spatial dims rows, cols"):
        suites.SUITES.get("deepbench").cases([lstmspec.load_spec("convlstm2d")], explicit=True)


def test_sweeps_vary_one_quantity():
    spec = lstmspec.load_spec("lstm")
    time_cases = suites.sweep(spec, suites.CPU, "time")
    assert [c.x for c in time_cases] == [12, 25, 50, 100, 200]
    for c in time_cases:
        assert {k: v for k, v in c.dims if k != "time"} == {"batch": 16, "input": 256, "units": 256}
    image = suites.sweep(lstmspec.load_spec("convlstm2d"), suites.CPU, "image")
    assert [(dict(c.dims)["rows"], dict(c.dims)["cols"]) for c in image] == [(8, 8), (16, 16), (32, 32), (64, 64)]


@pytest.mark.parametrize("name", suites.SUITES.names())
def test_every_suite_builds_for_its_specs(name):
    suite = suites.SUITES.get(name)
    specs = [lstmspec.load_spec(n) for n in (suite.default_specs or lstmspec.shipped_names())]
    cases = suite.cases(specs, explicit=False)
    assert cases, name
    for case in cases:  # every case is a valid configuration
        lstmspec.load_spec(case.spec).resolve_dims(dict(case.dims), dict(case.attrs))


# --------------------------------------------------------------------- peaks
@pytest.mark.parametrize("name,expected", [
    ("NVIDIA H100 80GB HBM3", "NVIDIA H100 SXM"), ("NVIDIA H100 PCIe", "NVIDIA H100 PCIe"),
    ("NVIDIA H200", "NVIDIA H200"), ("NVIDIA A100-SXM4-80GB", "NVIDIA A100 80GB SXM"),
    ("NVIDIA A100-PCIE-40GB", "NVIDIA A100 40GB"), ("Tesla T4", "NVIDIA T4"), ("NVIDIA L4", "NVIDIA L4"),
    ("NVIDIA L40S", "NVIDIA L40S"), ("NVIDIA A10", "NVIDIA A10"), ("Some Future GPU", None)])
def test_gpu_peaks_are_looked_up_by_device_name(name, expected):
    entry = gpu_peak(name)
    assert (entry.name if entry else None) == expected


def test_roofline_is_the_lower_of_compute_and_bandwidth():
    peak = Peak("cpu", {"float32": 100e9}, 10e9)
    assert peak.roofline("float32", 1.0) == 10e9
    assert peak.roofline("float32", 50.0) == 100e9
    assert peak.roofline("float64", 50.0) is None
    h100 = from_table(gpu_peak("NVIDIA H100 80GB HBM3"))
    assert h100.flops_for("tf32") == pytest.approx(494.7e12) and h100.bandwidth == pytest.approx(3.35e12)


# -------------------------------------------------------------------- report
def test_html_keeps_formulas_in_code_intact():
    from lstmspec.bench.report import _inline_html

    assert _inline_html("`8*batch*time*units` is **textbook**, *not* a<b") == (
        "<code>8*batch*time*units</code> is <strong>textbook</strong>, <em>not</em> a&lt;b")


def test_linear_fit_and_formatting():
    slope, intercept, r2 = linear_fit([1, 2, 3, 4], [3.0, 5.0, 7.0, 9.0])
    assert (slope, intercept, r2) == pytest.approx((2.0, 1.0, 1.0))
    assert [fmt_time(s) for s in (2.5, 0.0123, 4.5e-5, None)] == ["2.5 s", "12.3 ms", "45 µs", "-"]


# ------------------------------------------------------------------- command
@pytest.fixture
def threads():
    """--threads changes process-wide settings: put them back."""
    torch = pytest.importorskip("torch")
    saved = torch.get_num_threads()
    yield
    torch.set_num_threads(saved)
    from lstmspec.bench import environment
    from lstmspec.reference import blas

    environment._THREADS = None
    blas.set_threads(saved)


def _run(args, capsys):
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_tiny_bench_writes_json_markdown_and_html(tmp_path, capsys, threads):
    pytest.importorskip("torch")
    pytest.importorskip("onnxruntime")
    pytest.importorskip("matplotlib")
    out = tmp_path / "bench.json"
    code, stdout, err = _run(["lstm", "--suite", "tiny", "--quick", "--threads", "1", "--framework",
                              "reference,torch.nn.LSTM,onnxruntime.LSTM", "--json", str(out),
                              "--report", str(tmp_path), "-q"], capsys)
    assert code == 0, err
    doc = json.loads(out.read_text())
    assert (doc["schema"], doc["version"]) == ("lstmspec-bench", 1)
    meta = doc["meta"]
    assert meta["command"].startswith("lstmspec bench lstm --suite tiny")
    for key in ("python", "numpy", "torch", "tensorflow", "onnxruntime", "cuda", "cudnn"):
        assert key in meta["versions"]
    assert meta["threads"]["torch intra-op"] == 1 and meta["seed"] == 0 and meta["date"] and meta["device_name"]
    assert meta["peak"]["flops"]["float32"] > 0
    if meta["core_ns_per_exp"] is not None:  # None where threads cannot be pinned
        before, after = meta["core_ns_per_exp"]
        assert set(before) == set(after) and all(v > 0 for v in before.values())
    rows = {(r["implementation"], r["pass"]): r for r in doc["rows"]}
    assert set(rows) == {("lstmspec.reference(numpy)", "forward"), ("lstmspec.reference(torch)", "forward"),
                         ("torch.nn.LSTM", "forward"), ("onnxruntime.LSTM", "forward")}
    b, t, d, h = TINY["batch"], TINY["time"], TINY["input"], TINY["units"]
    for row in rows.values():
        assert row["status"] == "timed"
        assert row["conformance"] in ("pass", "reference")
        assert row["timing"]["runs"] >= 1 and row["timing"]["median_s"] > 0
        assert row["flops"]["contraction"] == 8 * b * t * h * (d + h)
        assert row["flops"]["deepbench"] == 8 * h * h * b * t
        assert row["flop_per_s"] == pytest.approx(row["flops"]["contraction"] / row["timing"]["median_s"])
        assert row["peak_fraction"] > 0
    assert rows[("lstmspec.reference(numpy)", "forward")]["precision"] == "float64"
    assert rows[("torch.nn.LSTM", "forward")]["precision"] == "float32"
    md = (tmp_path / "timing-cpu.md").read_text()
    assert "lstmspec bench lstm --suite tiny" in md
    assert meta["core_ns_per_exp"] is None or "ns per float64 exp on each core" in md
    for name in ("lstmspec.reference(numpy)", "torch.nn.LSTM", "onnxruntime.LSTM",
                 "`8*batch*time*units*(input + units)`"):
        assert name in md
    pngs = sorted(p.name for p in (tmp_path / "timing-cpu").glob("*.png"))
    assert pngs and all(f"timing-cpu/{p}" in md for p in pngs)
    glance = md[md.index("## At a glance"):]
    assert "torch.nn.LSTM float32" in glance.split("\n| ---")[0], "the at-a-glance columns should say the dtype"
    svgs = sorted(p.name for p in (tmp_path / "timing-cpu").glob("*.svg"))
    assert svgs == [p.replace(".png", ".svg") for p in pngs] and all(f"timing-cpu/{p}" in md for p in svgs)
    assert all((tmp_path / "timing-cpu" / p).read_text().lstrip().startswith("<?xml") for p in svgs)
    page = (tmp_path / "timing-cpu.html").read_text()
    assert page.count("data:image/png;base64,") == len(pngs)
    assert 'src="timing-cpu/' not in page and "<table>" in page
    assert "torch.nn.LSTM" in stdout  # the terminal table


def test_a_non_conforming_kernel_is_timed_and_marked(tmp_path, capsys):
    pytest.importorskip("torch")
    kernel = tmp_path / "swapped.py"
    kernel.write_text(
        "import torch\n"
        "def lstm(x, state, params, config):\n"
        "    h, c = state['h'], state['c']\n"
        "    W = torch.cat([params[f'W_{g}'] for g in 'ifgo'], dim=1)\n"
        "    U = torch.cat([params[f'U_{g}'] for g in 'ifgo'], dim=1)\n"
        "    b = torch.cat([params[f'b_{g}'] for g in 'ifgo'])\n"
        "    ys = []\n"
        "    for t in range(x.shape[1]):\n"
        "        i, f, g, o = (x[:, t] @ W + h @ U + b).chunk(4, dim=-1)\n"
        "        c = torch.sigmoid(i) * c + torch.sigmoid(f) * torch.tanh(g)  # i and f swapped\n"
        "        h = torch.sigmoid(o) * torch.tanh(c)\n"
        "        ys.append(h)\n"
        "    return torch.stack(ys, dim=1), {'h': h, 'c': c}\n"
        "def broken(x, state, params, config):\n"
        "    raise RuntimeError('boom')\n")
    out = tmp_path / "bench.json"
    code, stdout, err = _run(["lstm", "--suite", "tiny", "--quick", "--no-peak", "--kernel", f"{kernel}:lstm",
                              "--kernel", f"{kernel}:broken", "--json", str(out), "--report", str(tmp_path), "-q"],
                             capsys)
    assert code == 1
    rows = {r["implementation"]: r for r in json.loads(out.read_text())["rows"]}
    assert set(rows) == {"lstmspec.reference(numpy)", "lstmspec.reference(torch)", f"{kernel}:lstm",
                         f"{kernel}:broken"}  # kernels without --framework: the references, not the frameworks
    swapped = rows[f"{kernel}:lstm"]
    assert swapped["status"] == "timed" and swapped["timing"]["median_s"] > 0
    assert swapped["conformance"] == "fail" and "y: error" in swapped["conformance_detail"]
    broken = rows[f"{kernel}:broken"]
    assert broken["status"] == "error" and broken["timing"] is None and "boom" in broken["reason"]
    assert f"NON-CONFORMING lstm | batch=2 time=3 input=4 units=8 | {kernel}:lstm" in stdout
    md = (tmp_path / "timing-cpu.md").read_text()
    assert "## Non-conforming (timed, but wrong)" in md and "**NO**" in md


def test_backward_times_forward_and_backward_after_checking_gradients(tmp_path, capsys):
    pytest.importorskip("torch")
    out = tmp_path / "bench.json"
    code, _, err = _run(["lstm", "--suite", "tiny", "--quick", "--no-peak", "--backward", "--framework",
                         "reference,torch.nn.LSTM", "--json", str(out), "-q"], capsys)
    assert code == 0, err
    rows = {(r["implementation"], r["pass"]): r for r in json.loads(out.read_text())["rows"]}
    both = rows[("torch.nn.LSTM", "forward+backward")]
    assert both["status"] == "timed" and both["conformance"] == "pass"
    assert both["flops"]["contraction"] == 3 * rows[("torch.nn.LSTM", "forward")]["flops"]["contraction"]
    assert rows[("lstmspec.reference(torch)", "forward+backward")]["status"] == "timed"
    skipped = rows[("lstmspec.reference(numpy)", "forward+backward")]
    assert skipped["status"] == "skip" and "computes no gradients" in skipped["reason"]


def test_keras_is_timed_through_a_traced_graph(tmp_path, capsys):
    pytest.importorskip("tensorflow")
    out = tmp_path / "bench.json"
    code, _, err = _run(["lstm", "--suite", "tiny", "--quick", "--no-peak", "--framework", "keras.layers.LSTM",
                         "--json", str(out), "-q"], capsys)
    assert code == 0, err
    (row,) = json.loads(out.read_text())["rows"]
    assert row["implementation"] == "keras.layers.LSTM" and row["status"] == "timed"
    assert row["conformance"] == "pass" and "tf.function" in row["note"]


def test_list_shows_cases_and_implementations_without_running(capsys):
    code, stdout, _ = _run(["lstm", "--suite", "deepbench-cpu", "--framework", "torch", "--list"], capsys)
    assert code == 0
    assert "lstm | torch.nn.LSTM | cpu | float32" in stdout
    assert "batch=16,time=25,input=512,units=512" in stdout and "H=512 B=16 T=25" in stdout


BAD = [
    (["lstm", "--suite", "nope"], "unknown bench suite 'nope'; available: cpu, deepbench"),
    (["lstm", "--dtype", "float33"], "unknown precision 'float33'"),
    (["lstm", "--dtype", "tf32"], "--dtype tf32 is a CUDA math mode"),
    (["lstm", "--device", "tpu"], "unknown device 'tpu'; devices: cpu, cuda"),
    (["convlstm2d", "--suite", "deepbench"], "spec convlstm2d has spatial dims"),
    (["lstm", "--framework", "jax"], "unknown implementation 'jax'"),
    (["lstm", "--threads", "0"], "Expected --threads N >= 1 but got 0"),
    (["--kernel", "k.py:f"], "--kernel needs the SPEC it implements"),
    (["lstmm"], "unknown spec 'lstmm'"),
    (["lstm", "--case", "batch=two"], "Expected a positive integer but got batch=two"),
    (["lstm", "--max-time", "-1"], "Expected a positive number but got max_time_s=-1"),
]


@pytest.mark.parametrize("args,message", BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_input_is_one_line_and_exit_2(args, message, capsys):
    code, stdout, err = _run(args, capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lstmspec bench: error: ")
    assert message in lines[0]


def test_cuda_without_a_gpu_is_one_line_and_exit_2(capsys):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA device")
    code, _, err = _run(["lstm", "--device", "cuda"], capsys)
    assert code == 2 and "--device cuda: no CUDA device" in err


def test_cuda_rows_are_timed_with_events(tmp_path, capsys):
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    out = tmp_path / "bench.json"
    code, _, err = _run(["lstm", "--suite", "tiny", "--quick", "--device", "cuda", "--framework", "torch.nn.LSTM",
                         "--flush-l2", "--json", str(out), "-q"], capsys)
    assert code == 0, err
    doc = json.loads(out.read_text())
    (row,) = [r for r in doc["rows"] if r["implementation"] == "torch.nn.LSTM"]
    assert row["timing"]["timer"] == "torch.cuda.Event" and row["conformance"] == "pass"
    assert doc["meta"]["cuda_settings"]["torch.backends.cudnn.benchmark"] is False
    assert doc["meta"]["versions"]["cudnn"] not in ("", "n/a (no CUDA device)")


def test_python_dash_m_runs_the_bench_command():
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "lstmspec.bench", "--help"], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0 and "usage: lstmspec bench" in done.stdout and "--backward" in done.stdout


def test_core_speeds_time_every_usable_core_and_restore_the_affinity():
    import os

    from lstmspec.bench.environment import core_speeds

    if not hasattr(os, "sched_setaffinity"):
        pytest.skip("no thread affinity on this platform")
    before = os.sched_getaffinity(0)
    speeds = core_speeds(numbers=1024, repeat=2)
    assert speeds is not None and set(speeds) == before, f"cores timed {speeds}, but should be {sorted(before)}"
    assert all(v > 0 for v in speeds.values())
    assert os.sched_getaffinity(0) == before, "the thread was left pinned"


def test_a_slowed_core_is_noted_in_the_report():
    from lstmspec.bench.report import environment_slowed

    assert environment_slowed([{0: 8.0, 1: 8.1}, {0: 7.9, 1: 8.3}]) == ""
    assert environment_slowed([{"0": 8.0, "1": 21.7}, {"0": 8.0, "1": 8.2}]).startswith("cpu1 ran a float64 exp")
    assert environment_slowed(None) == ""


def test_threads_for_one_run_are_given_back_to_a_caller_in_python(tmp_path, capsys):
    torch = pytest.importorskip("torch")
    from lstmspec.bench import environment
    from lstmspec.reference import blas

    saved_torch, saved_blas = torch.get_num_threads(), blas.threads()
    torch.set_num_threads(2)
    if saved_blas is not None:
        blas.set_threads(2)
    try:
        code, _, err = _run(["lstm", "--suite", "tiny", "--quick", "--threads", "1", "--framework",
                             "torch.nn.LSTM", "--json", str(tmp_path / "b.json"), "-q"], capsys)
        assert code == 0, err
        meta = json.loads((tmp_path / "b.json").read_text())["meta"]
        assert meta["threads"]["torch intra-op"] == 1, meta["threads"]  # the run itself used one thread
        assert torch.get_num_threads() == 2, "torch was left at --threads"
        assert saved_blas is None or blas.threads() == 2, "numpy's BLAS was left at --threads"
        assert environment.threads() is None
    finally:
        torch.set_num_threads(saved_torch)
        if saved_blas is not None:
            blas.set_threads(saved_blas)


def test_the_terminal_says_when_other_processes_loaded_the_cpus_beside_the_rows_they_affected(threads):
    pytest.importorskip("torch")
    from lstmspec.bench.report import render_terminal
    from lstmspec.cli.bench import _run as run_plans, build_parser, plan_runs

    args = build_parser().parse_args(["bench", "lstm", "--suite", "tiny", "--quick", "--threads", "1", "--no-peak",
                                      "--framework", "reference,torch.nn.LSTM"])
    rows, _ = run_plans(plan_runs(args, []), True)
    timed = [r for r in rows if r.timed]
    assert len(timed) >= 2 and all(r.foreign_share is not None for r in timed)  # measured per row
    for r in timed:
        r.foreign_share = 0.0
    assert "other" not in render_terminal(rows)
    timed[1].foreign_share = 0.68
    lines = render_terminal(rows).splitlines()
    marked = [line for line in lines if line.rstrip().endswith("68% !")]
    assert len(marked) == 1 and timed[1].case.describe() in marked[0] and "other load" in lines[0]
    assert any(line.startswith("! other processes used more than 20% of the CPUs while this row ran") for line in lines)
    for r in rows:  # only the run's share known (a JSON file of an older run): one note for the run
        r.foreign_share = None
    busy = render_terminal(rows, {"foreign_load": {"other_share": 0.68, "other_cpu_s": 13.6, "wall_s": 10.0}})
    assert "note: other processes used 68% of the CPUs during these" in busy
    assert "other processes" not in render_terminal(rows, {"foreign_load": {"other_share": 0.05}})
