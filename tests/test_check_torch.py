"""`lstmspec check` on real PyTorch layers: correct ones pass, plausible bugs fail with the right quantity named."""
from __future__ import annotations

import json
import shlex
import xml.etree.ElementTree as ET

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import lstmspec  # noqa: E402
from lstmspec.adapters.base import ADAPTERS, all_adapters  # noqa: E402
from lstmspec.adapters.torch_layers import NNLSTMBatchFirst, NNLSTMCell  # noqa: E402
from lstmspec.check.cases import default_matrix, make_case, parse_case_key, shard  # noqa: E402
from lstmspec.check.precision import PRECISIONS  # noqa: E402
from lstmspec.check.results import FAIL, PASS, SKIP  # noqa: E402
from lstmspec.check.runner import Plan, Target, run_plan  # noqa: E402
from lstmspec.cli import main  # noqa: E402
from lstmspec.spec.catalog import resolve_path  # noqa: E402

TORCH_ADAPTERS = ["torch.nn.LSTM", "torch.nn.LSTM(batch_first=False)", "torch.nn.LSTMCell"]


def run(spec, impl, precisions=("float64", "float32"), cases=None, seed=0, name=None):
    all_adapters()
    plan = Plan(spec, spec.name, cases or default_matrix(spec), [Target(name or impl.name, "framework", impl)],
                ["cpu"], [PRECISIONS.get(p) for p in precisions], seed)
    return list(run_plan(plan))


def failing_quantities(results):
    return {c.quantity for r in results if r.status == FAIL for c in r.failures}


@pytest.mark.parametrize("name", TORCH_ADAPTERS)
def test_torch_layers_conform_on_the_default_matrix(name):
    spec = lstmspec.load_spec("lstm")
    all_adapters()
    results = run(spec, ADAPTERS.get(name))
    assert not [r.summary_line() for r in results if r.status not in (PASS, SKIP)]
    passed = [r for r in results if r.status == PASS]
    assert len(passed) >= 6  # defaults, one timestep, zero state at two precisions
    grads = {c.quantity for r in passed for c in r.comparisons if c.kind == "grad"}
    assert {"dL/dx", "dL/dh0", "dL/dc0", "dL/dW_f", "dL/dU_o", "dL/db_g"} <= grads
    shapes = {c.quantity for r in passed for c in r.comparisons if c.kind == "shape"}
    assert any("weight_ih" in s for s in shapes)


def edited_spec(tmp_path, old: str, new: str, name: str = "lstm"):
    text = resolve_path(name).read_text()
    assert old in text
    path = tmp_path / f"{name}.toml"
    path.write_text(text.replace(old, new))
    return lstmspec.load_spec(str(path))


def test_wrong_gate_order_in_the_torch_layout_fails_on_y_at_step_0(tmp_path):
    spec = edited_spec(tmp_path, 'weight_ih_l0 = { concat = ["W_i", "W_f", "W_g", "W_o"]',
                       'weight_ih_l0 = { concat = ["W_i", "W_o", "W_f", "W_g"]')
    results = run(spec, ADAPTERS.get("torch.nn.LSTM"), precisions=("float64",))
    failed = [r for r in results if r.status == FAIL]
    assert failed and not [r for r in results if r.status == PASS]
    y = next(c for c in failed[0].failures if c.quantity == "y")
    assert y.first_step == 0 and y.error > 1e-3
    assert "dL/dW_f" in failing_quantities(results)


def test_a_transposed_layout_fails_on_the_weight_shape(tmp_path):
    spec = edited_spec(tmp_path, 'weight_hh_l0 = { concat = ["U_i", "U_f", "U_g", "U_o"], transpose = true }',
                       'weight_hh_l0 = { concat = ["U_i", "U_f", "U_g", "U_o"] }')
    results = run(spec, ADAPTERS.get("torch.nn.LSTM"), precisions=("float64",))
    assert "shape of weight_hh_l0" in failing_quantities(results) or any(r.status == "error" for r in results)


class _HalfCellState(NNLSTMCell):
    """A plausible fused-kernel bug: the cell state is stored in half precision between steps."""

    name = "test: LSTMCell with a float16 cell state"

    def run(self, data, device, precision, want_grads):
        cell_forward = torch.nn.LSTMCell.forward

        def rounded(module, x, hx=None):
            h, c = cell_forward(module, x, hx)
            return h, c.half().to(c.dtype)

        torch.nn.LSTMCell.forward = rounded
        try:
            return super().run(data, device, precision, want_grads)
        finally:
            torch.nn.LSTMCell.forward = cell_forward


def test_a_cell_state_rounded_to_half_fails_at_float32_but_a_correct_cell_passes():
    spec = lstmspec.load_spec("lstm")
    cases = [make_case(spec, {"units": 32, "time": 20, "batch": 4})]
    bad = run(spec, _HalfCellState(), precisions=("float32",), cases=cases)
    good = run(spec, NNLSTMCell(), precisions=("float32",), cases=cases)
    assert [r.status for r in bad] == [FAIL]
    assert {"y", "c_T"} <= failing_quantities(bad)
    assert [r.status for r in good] == [PASS]


class _ForgetBiasPlusOne(NNLSTMBatchFirst):
    """TF1's LSTMCell added 1 to the forget gate bias: a classic porting bug."""

    name = "test: nn.LSTM with forget bias + 1"

    def run(self, data, device, precision, want_grads):
        params = dict(data.params)
        params["b_f"] = params["b_f"] + 1.0
        shifted = type(data)(**{**data.__dict__, "params": params})
        return super().run(shifted, device, precision, want_grads)


def test_forget_bias_plus_one_fails_on_values_not_on_shapes():
    spec = lstmspec.load_spec("lstm")
    results = run(spec, _ForgetBiasPlusOne(), precisions=("float64",))
    failed = [r for r in results if r.status == FAIL]
    assert failed
    kinds = {c.kind for r in failed for c in r.failures}
    assert "value" in kinds and "shape" not in kinds


def test_failure_carries_a_replay_command_that_reruns_exactly_that_case(tmp_path, capsys):
    spec_path = tmp_path / "lstm.toml"
    text = resolve_path("lstm").read_text().replace(
        'weight_ih_l0 = { concat = ["W_i", "W_f", "W_g", "W_o"]', 'weight_ih_l0 = { concat = ["W_f", "W_i", "W_g", "W_o"]')
    spec_path.write_text(text)
    assert main(["check", str(spec_path), "--framework", "torch.nn.LSTM", "--dtype", "float64", "-q"]) == 1
    out = capsys.readouterr().out
    replay = next(line[line.index("lstmspec check"):] for line in out.splitlines() if "replay" in line)
    argv = shlex.split(replay)[1:]
    assert "--case" in argv and "--seed" in argv
    assert main(argv + ["-q"]) == 1
    assert "1 passed" not in capsys.readouterr().out


def test_case_keys_round_trip_and_seeds_do_not_depend_on_order():
    spec = lstmspec.load_spec("convlstm2d")
    for case in default_matrix(spec):
        again = parse_case_key(spec, case.key)
        assert again.key == case.key
        assert again.seed(5) == case.seed(5)


def test_shards_partition_the_cases():
    spec = lstmspec.load_spec("convlstm2d")
    cases = default_matrix(spec)
    parts = [shard(cases, k, 3) for k in (1, 2, 3)]
    keys = [c.key for part in parts for c in part]
    assert sorted(keys) == sorted(c.key for c in cases) and len(set(keys)) == len(keys)


def test_default_matrix_covers_every_attribute_value():
    spec = lstmspec.load_spec("convlstm2d")
    cases = default_matrix(spec)
    values = {(k, v) for c in cases for k, v in c.attrs}
    assert ("padding", "same") in values and ("strides", (2, 2)) in values and ("dilation", (2, 2)) in values
    assert ("data_format", "channels_first") in values and ("recurrent_activation", "hard_sigmoid") in values
    kernels = {dict(c.dims)["kernel_rows"] for c in cases}
    assert {2, 3} <= kernels
    assert any(dict(c.dims)["time"] == 1 for c in cases)
    assert any(c.option("state") == "zeros" for c in cases) and any(c.option("return_sequences") is False for c in cases)
    for c in cases:
        d = dict(c.dims)
        assert d["batch"] != d["time"] or d["time"] == 1
        assert d["rows"] != d["cols"]


@pytest.mark.parametrize("argv, message", [
    (["check", "lstm", "--framework", "nosuch"], "nosuch"),
    (["check", "lstm", "--dtype", "float8"], "float8"),
    (["check", "lstm", "--device", "tpu"], "tpu"),
    (["check", "lstm", "--shard", "3/2"], "shard"),
    (["check", "lstm", "--case", "units=0"], "units"),
    (["check", "lstm", "--case", "padding=same"], "padding"),
    (["check", "nosuchspec"], "nosuchspec"),
    (["check", "lstm", "convlstm2d", "--case", "batch=2"], "exactly one"),
])
def test_bad_command_lines_are_one_line_and_exit_2(argv, message, capsys):
    try:
        code = main(argv)
    except SystemExit as stop:  # refused by argparse itself (a bad option value), which exits as argparse does
        code = stop.code
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU message")
def test_asking_for_cuda_without_a_gpu_is_exit_2(capsys):
    assert main(["check", "lstm", "--device", "cuda"]) == 2
    assert "CUDA" in capsys.readouterr().err


def test_json_and_junit_outputs_describe_every_case(tmp_path, capsys):
    js, junit = tmp_path / "out.json", tmp_path / "junit.xml"
    code = main(["check", "lstm", "--framework", "torch.nn.LSTMCell", "--json", str(js), "--junit", str(junit), "-q"])
    assert code == 0
    data = json.loads(js.read_text())
    assert data["schema"] == "lstmspec-check" and data["version"] == 1
    gaps = data["totals"]["not_applicable"]  # what torch.nn.LSTMCell cannot run (reverse, ...): not cases
    assert gaps > 0 and all(g["implementation"] == "torch.nn.LSTMCell" for g in data["not_applicable"])
    assert len(data["results"]) + gaps == 2 * len(default_matrix(lstmspec.load_spec("lstm")))
    assert {r["status"] for r in data["results"]} == {"pass"}
    root = ET.parse(junit).getroot()
    assert len(root.findall(".//testcase")) == len(data["results"])


def test_fuzz_shrinks_a_failure_to_a_minimal_configuration(tmp_path, capsys):
    spec_path = tmp_path / "lstm.toml"
    spec_path.write_text(resolve_path("lstm").read_text().replace(
        'bias_ih_l0 = { concat = ["b_i:0", "b_f:0", "b_g:0", "b_o:0"] }',
        'bias_ih_l0 = { concat = ["b_i:0", "b_f:0", "b_o:0", "b_g:0"] }'))
    js = tmp_path / "fuzz.json"
    code = main(["check", str(spec_path), "--framework", "torch.nn.LSTM", "--dtype", "float64",
                 "--fuzz", "10", "--where", "units=1", "--json", str(js), "-q"])
    assert code == 1
    fuzzed = [r for r in json.loads(js.read_text())["results"] if r["label"].startswith("fuzz")]
    minimal = [r for r in fuzzed if r["status"] == "fail"]
    assert len(minimal) == 1 and minimal[0]["label"] == "fuzz: minimal failing configuration"
    dims = dict(item.split("=") for item in minimal[0]["case"].split(","))
    assert dims["batch"] == "1" and dims["time"] == "1"  # shrunk


def test_a_missing_framework_is_skipped_with_one_line_unless_asked_for(tmp_path):
    """Where TensorFlow and Keras are not installed (a real environment without them, tests/interpreters.py)."""
    from interpreters import lstmspec_without

    without_tf = ("tensorflow", "keras")
    listed = lstmspec_without(tmp_path, without_tf, "check", "lstm", "--device", "cpu", "--list")
    assert listed.returncode == 0, listed.stderr
    notes = [n for n in listed.stderr.strip().splitlines() if n.startswith("skipping ")]  # one per framework that needs TensorFlow
    assert "skipping keras: not installed (pip install 'lstmspec[tf]')" in notes
    assert len(notes) == len(set(notes)) and all(n.startswith("skipping ") and ": not installed (" in n for n in notes)
    implementations = {line.split(" | ")[1] for line in listed.stdout.splitlines() if " | " in line}
    assert "torch.nn.LSTM" in implementations and not [i for i in implementations if i.startswith("keras")]
    for frameworks in ("keras", "torch.nn.LSTMCell,keras"):
        asked = lstmspec_without(tmp_path, without_tf, "check", "lstm", "--framework", frameworks, "-q")
        assert asked.returncode == 2, asked.stderr
        assert asked.stderr.strip().splitlines() == [
            "lstmspec check: error: framework keras was asked for but is not installed: pip install 'lstmspec[tf]'"]


def test_reference_numbers_are_float64_and_same_seed_same_data():
    from lstmspec.check.oracle import make_data

    spec = lstmspec.load_spec("lstm")
    case = default_matrix(spec)[0]
    a, b = make_data(spec, case, 3), make_data(spec, case, 3)
    assert a.x.dtype == np.float64 and np.array_equal(a.x, b.x)
    assert not np.array_equal(a.x, make_data(spec, case, 4).x)


def test_both_halves_of_a_bidirectional_lstm_conform_and_reading_the_wrong_half_fails():
    from lstmspec.adapters.torch_layers import NNLSTMForwardHalf, NNLSTMReverseHalf

    spec = lstmspec.load_spec("lstm")
    for half in (NNLSTMForwardHalf(), NNLSTMReverseHalf()):
        results = run(spec, half, precisions=("float64",))
        assert not [r.summary_line() for r in results if r.status not in (PASS, SKIP)]
        assert sum(r.status == PASS for r in results) >= 3

    class ForwardReadFromTheSecondHalf(NNLSTMForwardHalf):
        name = "test: forward weights, output read from the reverse half's features"
        half = 1

    results = run(spec, ForwardReadFromTheSecondHalf(), precisions=("float64",))
    assert {r.status for r in results} >= {FAIL} and "y" in failing_quantities(results)


def test_a_run_in_which_every_case_is_skipped_exits_1_and_says_so(capsys):
    assert main(["check", "lstm", "--framework", "torch", "--dtype", "tf32", "-q"]) == 1
    assert "nothing was checked" in capsys.readouterr().err


def test_a_frameworks_capability_gap_is_not_applicable_and_a_kernels_declaration_stays_a_skip(capsys):
    from lstmspec.api import check_kernel

    from numpy_kernels import lstm as numpy_lstm

    assert main(["check", "lstm", "--framework", "torch.nn.LSTM", "--dtype", "float64,tf32", "--where", "time=1",
                 "-j", "1", "-q"]) == 0
    out = capsys.readouterr().out
    assert "torch.nn.LSTM    cpu       tf32" not in out and "tf32 is a CUDA math mode (lstm, " in out
    assert "not applicable in" in out.splitlines()[-1]
    declared = [r for r in check_kernel(numpy_lstm, "lstm", dtypes=("float64",)) if r.status == SKIP]
    assert declared and not any(r.not_applicable for r in declared)


def test_a_kernel_declaring_its_devices_is_not_run_on_the_others():
    from lstmspec.api import check_kernel

    @lstmspec.kernel(devices=("cuda",))
    def gpu_only(x, state, params, config):
        raise AssertionError("a kernel declared for CUDA was run on the CPU")

    results = check_kernel(gpu_only, "lstm", dtypes=("float64",))
    assert results and {r.status for r in results} == {SKIP}
    assert all("does not run on cpu" in r.reason for r in results), {r.reason for r in results}


def test_a_kernel_declaring_an_unknown_device_is_a_usage_error(tmp_path, capsys):
    kernel = tmp_path / "k.py"
    kernel.write_text("def lstm(x, state, params, config):\n    return x, state\n\nlstm.lstmspec_devices = ('tpu',)\n")
    assert main(["check", "lstm", "--kernel", f"{kernel}:lstm", "--no-isolate", "-q"]) == 2
    err = capsys.readouterr().err
    assert "lstmspec_devices must name some of cpu, cuda, not ['tpu']" in err and "Traceback" not in err


def test_a_cli_failure_is_one_progress_line_and_one_report_entry_led_by_the_diagnosis(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    kernel = Path(__file__).resolve().parent / "numpy_kernels.py"
    ran = subprocess.run([sys.executable, "-m", "lstmspec", "check", "lstm", "--kernel",
                          f"{kernel}:input_and_forget_gates_swapped", "--dtype", "float64", "--where", "time=1"],
                         capture_output=True, text=True, timeout=300)
    assert ran.returncode == 1, ran.stderr
    failing = [line for line in ran.stderr.splitlines() if line.startswith("FAIL ")]
    assert failing and all(": diagnosis: matches lstm with gate order f,i,g,o" in line for line in failing)
    entries = ran.stdout[ran.stdout.index("Failed ("):].split("\nFAIL  ")[1:]
    assert len(entries) == len(failing)
    for entry in entries:
        lines = entry.splitlines()
        assert lines[1].startswith("      diagnosis: matches lstm with gate order f,i,g,o")  # the cause first
        assert entry.count("diagnosis:") == 1 and entry.count("replay: lstmspec check") == 1
