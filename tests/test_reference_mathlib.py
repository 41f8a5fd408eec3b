"""tanh, sigmoid and GEMMs of the numpy reference through torch's kernels (``reference/mathlib.py``).

They must be as accurate as numpy's, leave small arrays (and so small checks)
to numpy without importing torch, leave torch's thread count as they found it,
and say clearly what is wrong with a bad ``LSTMSPEC_REFERENCE_MATH``.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import lstmspec
from lstmspec.errors import LookupFailed
from lstmspec.reference import mathlib
from lstmspec.reference.backends import NumpyBackend
from lstmspec.reference.run import run_reference

from interpreters import run_without

torch = pytest.importorskip("torch")


def _arguments() -> np.ndarray:
    rng = np.random.default_rng(0)
    wide = np.geomspace(1e-300, 800.0, 100_000)
    return np.concatenate([wide, -wide, rng.standard_normal(100_000) * 3, rng.uniform(-0.6, 0.6, 100_000),
                           [0.0, -0.0, 5e-324, np.inf, -np.inf]])


def _ulps(values: np.ndarray, exact: np.ndarray) -> float:
    """Largest error in units of the last place of the float64 result, against long double."""
    spacing = np.spacing(exact.astype(np.float64)).astype(np.longdouble)
    keep = np.isfinite(exact) & (np.abs(exact) > 1e-300)
    return float(np.max(np.abs(values.astype(np.longdouble)[keep] - exact[keep]) / spacing[keep]))


@pytest.mark.skipif(np.finfo(np.longdouble).nmant < 60, reason="needs x87 long double for the exact values")
def test_torch_tanh_and_sigmoid_are_as_accurate_as_numpy():
    x = _arguments()
    exact_tanh = np.tanh(x.astype(np.longdouble))
    with np.errstate(over="ignore"):
        exact_sigmoid = 1 / (1 + np.exp(-x.astype(np.longdouble)))
    fast, plain = mathlib.ReferenceMath("torch"), mathlib.ReferenceMath("numpy")
    assert _ulps(fast.tanh(x), exact_tanh) <= 1.0, "SLEEF's tanh promises 1 ulp"
    assert _ulps(plain.tanh(x), exact_tanh) <= 1.5
    with np.errstate(over="ignore"):
        plain_sigmoid = plain.sigmoid(x)
    fast_sigmoid = fast.sigmoid(x)
    assert _ulps(fast_sigmoid, exact_sigmoid) <= 2.5  # the textbook formula's rounding, both ways
    assert _ulps(plain_sigmoid, exact_sigmoid) <= 2.5
    special = x[-5:]
    np.testing.assert_array_equal(fast.tanh(np.tile(special, 1000))[:5], np.tanh(special))
    assert np.signbit(fast.tanh(np.full(mathlib.SMALL, -0.0))).all(), "tanh(-0) is -0"


@pytest.mark.parametrize("make", [
    lambda a: a,
    lambda a: a[..., 16:32],  # a gate of the fused sum
    lambda a: a[::-1, :, :, :16],  # negative strides
    lambda a: np.asfortranarray(a[0]),
])
def test_any_layout_gives_a_fresh_contiguous_result_and_leaves_the_argument(make):
    x = make(np.random.default_rng(1).standard_normal((8, 16, 16, 64)) * 3)
    before = x.copy()
    for name in ("tanh", "sigmoid"):
        got = getattr(mathlib.ReferenceMath("torch"), name)(x)
        want = getattr(mathlib.ReferenceMath("numpy"), name)(x)
        assert got.shape == x.shape and got.flags.c_contiguous and not np.shares_memory(got, x)
        np.testing.assert_allclose(got, want, rtol=4e-16, atol=0)
        np.testing.assert_array_equal(x, before)


def test_read_only_arguments_give_no_warning():
    x = np.random.default_rng(2).standard_normal(3 * mathlib.SMALL)
    x.flags.writeable = False
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_allclose(mathlib.ReferenceMath("torch").tanh(x), np.tanh(x), rtol=4e-16)


def test_small_arrays_go_through_numpy_bitwise():
    x = np.random.default_rng(3).standard_normal(mathlib.SMALL - 1)
    fast = mathlib.ReferenceMath("torch")
    np.testing.assert_array_equal(fast.tanh(x), np.tanh(x))
    np.testing.assert_array_equal(fast.sigmoid(x), 1.0 / (1.0 + np.exp(-x)))


def test_reference_through_torch_agrees_with_numpy_only_to_rounding():
    spec = lstmspec.load_spec("convlstm2d")
    dims = dict(batch=2, time=3, rows=24, cols=20, channels=3, filters=16)  # 7680 numbers per gate
    config = {"padding": "same"}
    rng = np.random.default_rng(4)
    params = spec.random_params(config, rng, **dims)
    x, state = spec.random_inputs(config, rng, **dims)
    fast_y, fast_final = run_reference(spec, x, state, params, config, backend=NumpyBackend(math="torch"))
    y, final = run_reference(spec, x, state, params, config, backend=NumpyBackend(math="numpy"))
    assert not np.array_equal(fast_y, y), "torch was not used: the test needs arrays of SMALL numbers or more"
    np.testing.assert_allclose(fast_y, y, rtol=0, atol=1e-14)
    for key in final:
        np.testing.assert_allclose(fast_final[key], final[key], rtol=0, atol=1e-14)


def test_an_unknown_choice_lists_the_choices(monkeypatch):
    monkeypatch.setenv(mathlib.ENV, "sleef")
    with pytest.raises(LookupFailed) as err:
        NumpyBackend()
    for choice in ("auto", "numpy", "torch"):
        assert choice in str(err.value)


def _without_torch(tmp_path, code: str) -> subprocess.CompletedProcess[str]:
    """``code`` in this interpreter where torch is not installed (see tests/interpreters.py)."""
    return run_without(tmp_path, ("torch",), "import numpy as np\nfrom lstmspec.reference import mathlib\n" + code,
                       env=_default_math_env())


def test_torch_required_but_not_installed_is_a_config_error(tmp_path):
    out = _without_torch(tmp_path, "mathlib.ReferenceMath('torch').tanh(np.zeros(mathlib.SMALL))")
    assert out.returncode == 1
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith("lstmspec.errors.ConfigError: LSTMSPEC_REFERENCE_MATH=torch, but torch cannot be imported")
    assert "set LSTMSPEC_REFERENCE_MATH=numpy" in last


def test_auto_without_torch_installed_computes_in_numpy(tmp_path):
    out = _without_torch(tmp_path, (
        "auto = mathlib.ReferenceMath('auto')\n"
        "x = np.linspace(-3, 3, mathlib.SMALL)\n"
        "a = np.random.default_rng(0).standard_normal((256, 256))\n"
        "assert np.array_equal(auto.tanh(x), np.tanh(x)) and np.array_equal(auto.matmul(a, a), a @ a)\n"
        "print(auto.describe())"))
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("tanh/sigmoid numpy") and "GEMM numpy" in out.stdout


def _default_math_env() -> dict[str, str]:
    """This environment without a choice of reference math: the default, ``auto``."""
    return {k: v for k, v in os.environ.items() if k != mathlib.ENV}


def _in_a_fresh_process(code: str) -> str:
    """What ``code`` prints in a new interpreter, where nothing is imported yet."""
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_default_math_env(),
                          check=True).stdout


def test_a_small_check_does_not_import_torch():
    code = ("import sys, numpy as np, lstmspec; s = lstmspec.load_spec('convlstm2d'); "
            "p = s.random_params(); x, st = s.random_inputs(); s.reference(x, st, p); "
            "print('torch' in sys.modules)")
    assert _in_a_fresh_process(code).strip() == "False"


@pytest.mark.parametrize("command", [
    # every case is skipped on a CPU, so nothing runs the oracle: before, the error came only at the end
    ["check", "lstm", "--framework", "torch", "--dtype", "tf32", "--json", "out.json"],
    ["bench", "lstm", "--list"],
])
def test_a_bad_choice_stops_a_command_before_it_runs_anything(tmp_path, command):
    env = {**os.environ, mathlib.ENV: "sleef"}
    out = subprocess.run([sys.executable, "-m", "lstmspec", *command], capture_output=True, text=True, env=env,
                         cwd=tmp_path)
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        f"lstmspec {command[0]}: error: unknown reference math ({mathlib.ENV}) 'sleef'; available: auto, numpy, torch"]
    assert not (tmp_path / "out.json").exists()


def _count_torch_gemms(monkeypatch) -> list[int]:
    calls: list[int] = []
    real = mathlib.ReferenceMath._torch_gemm

    def counting(torch, out, a, b, accumulate):
        calls.append(1)
        real(torch, out, a, b, accumulate)

    monkeypatch.setattr(mathlib.ReferenceMath, "_torch_gemm", staticmethod(counting))
    return calls


@pytest.mark.parametrize("make", [
    lambda c: c[0, :, :48],  # a matrix
    lambda c: c[:, :700, :48].copy(),  # leading axes, contiguous: one GEMM
    lambda c: c[:, 64:764, :48],  # a slice of every leading row (the split conv's operand): row by row
])
def test_gemms_through_torch_match_numpy_to_rounding(monkeypatch, make):
    calls = _count_torch_gemms(monkeypatch)
    rng = np.random.default_rng(5)
    a = make(rng.standard_normal((3, 1024, 64)))
    w = rng.standard_normal((48, 320))
    fast = mathlib.ReferenceMath("torch")
    got = fast.matmul(a, w)
    want = a @ w
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-13)
    total = want.copy()
    fast.matmul_add(total, a, w)  # out += a @ w, in the GEMM
    np.testing.assert_allclose(total, 2 * want, rtol=0, atol=2e-13)
    assert len(calls) == 2, "the GEMMs did not go through torch"


@pytest.mark.parametrize("make", [
    lambda a: a[::-1],  # negative strides: torch.from_numpy refuses them
    lambda a: a.astype(np.float32),
    lambda a: a[:4],  # too small to pay torch's overhead
    # four axes, not one matrix in memory (the row-by-row path takes three)
    lambda a: np.lib.stride_tricks.as_strided(a, (2, 16, 64, 48), (0, 64 * a.strides[0]) + a.strides),
])
def test_gemms_torch_cannot_take_as_they_are_stay_in_numpy(monkeypatch, make):
    calls = _count_torch_gemms(monkeypatch)
    rng = np.random.default_rng(6)
    a = make(rng.standard_normal((1024, 48)))
    w = rng.standard_normal((48, 512))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = mathlib.ReferenceMath("torch").matmul(a, w)
    np.testing.assert_array_equal(got, a @ w)
    assert calls == []


def test_read_only_gemm_operands_give_no_warning_and_the_numpy_result():
    a = np.random.default_rng(7).standard_normal((256, 256))
    a.flags.writeable = False
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(mathlib.ReferenceMath("torch").matmul(a, a), a @ a)


def test_the_numpy_and_torch_choices_route_gemms_as_named():
    assert mathlib.ReferenceMath("numpy").gemm_torch() is None
    assert mathlib.ReferenceMath("torch").gemm_torch() is torch


def test_sharded_reference_leaves_torch_thread_counts_as_they_were():
    import threading

    from lstmspec.reference import blas

    if blas.threads() is None or blas.usable_cores() < 2:
        pytest.skip("batch shards need two cores and numpy's bundled OpenBLAS")
    spec = lstmspec.load_spec("convlstm2d")
    dims = dict(batch=4, time=2, rows=32, cols=32, channels=8, filters=16)
    rng = np.random.default_rng(8)
    params = spec.random_params({}, rng, **dims)
    x, state = spec.random_inputs({}, rng, **dims)
    saved_blas, saved_torch = blas.threads(), torch.get_num_threads()
    blas.set_threads(2)  # earlier tests may have left it at 1 (check --jobs limits its own process)
    torch.set_num_threads(2)
    try:
        run_reference(spec, x, state, params, {}, backend=NumpyBackend(math="torch"))
        assert torch.get_num_threads() == 2, "the calling thread was left at one torch thread"
        seen: list[int] = []
        fresh = threading.Thread(target=lambda: seen.append(torch.get_num_threads()))
        fresh.start()
        fresh.join()
        assert seen == [2], "threads that start torch later would start from one thread"
    finally:
        blas.set_threads(saved_blas)
        torch.set_num_threads(saved_torch)


@settings(max_examples=40, deadline=None)
@given(rows=st.integers(1, 4), size=st.integers(64, 700), k=st.integers(8, 96), n=st.integers(16, 300),
       layout=st.sampled_from(["matrix", "contiguous", "slice"]), seed=st.integers(0, 2**16))
def test_torch_gemms_equal_numpy_to_rounding_on_any_shape_and_layout(rows, size, k, n, layout, seed):
    rng = np.random.default_rng(seed)
    base = rng.standard_normal((rows, size + 37, k + 5))
    a = {"matrix": base[0, :size, :k], "contiguous": np.ascontiguousarray(base[:, :size, :k]),
         "slice": base[:, 37:, :k]}[layout]
    w = rng.standard_normal((k, n))
    fast = mathlib.ReferenceMath("torch")
    want = a @ w
    scale = np.abs(a) @ np.abs(w)  # the error bound of a float64 dot product is relative to this
    np.testing.assert_array_less(np.abs(fast.matmul(a, w) - want), 1e-14 * scale + 1e-300)
    total = want.copy()
    fast.matmul_add(total, a, w)
    np.testing.assert_array_less(np.abs(total - 2 * want), 2e-14 * scale + 1e-300)


def test_mismatched_gemm_shapes_raise_numpys_value_error():
    a, w = np.ones((512, 64)), np.ones((63, 128))
    with pytest.raises(ValueError):
        mathlib.ReferenceMath("torch").matmul(a, w)
    with pytest.raises(ValueError):
        mathlib.ReferenceMath("torch").matmul_add(np.zeros((512, 128)), a, w)


def test_auto_sends_to_torch_only_what_was_faster_there():
    """SLEEF's tanh/sigmoid only where numpy's are not vectorized; MKL's GEMMs only on Intel CPUs
    (on an AMD CPU OpenBLAS's were faster); on an AMD CPU with AVX-512 nothing at all."""
    for vectorized in (True, False):
        for vendor in ("GenuineIntel", "AuthenticAMD", ""):
            for mkl in (True, False):
                elementwise, gemm = mathlib.auto_routes(vectorized, vendor, mkl)
                facts = f"numpy_vectorized={vectorized}, vendor={vendor!r}, torch_has_mkl={mkl}"
                assert elementwise == (not vectorized), f"elementwise={elementwise}, but should not be [{facts}]"
                assert gemm == (vendor == "GenuineIntel" and mkl), f"gemm={gemm}, but should not be [{facts}]"
    assert mathlib.auto_routes(True, "AuthenticAMD", True) == (False, False)


def test_auto_imports_torch_exactly_when_something_goes_through_it_on_this_cpu():
    """In a fresh process, on this machine's real CPU facts (no import when there is nothing for torch to do)."""
    code = ("import json, sys; from lstmspec.reference import mathlib as m; r = m.ReferenceMath('auto').routes(); "
            "print(json.dumps([r.elementwise, r.gemm, 'torch' in sys.modules, m.numpy_vectorizes_tanh(), "
            "m._cpu_vendor()]))")
    elementwise, gemm, imported, vectorized, vendor = json.loads(_in_a_fresh_process(code))
    assert (elementwise, gemm) == mathlib.auto_routes(vectorized, vendor, torch.backends.mkl.is_available())
    assert imported == any(mathlib.auto_routes(vectorized, vendor, torch_has_mkl=True)), (
        f"torch imported={imported}, but should be the opposite on {vendor!r} with numpy_vectorized={vectorized}")


def test_the_cpu_facts_come_from_proc_cpuinfo():
    from lstmspec import machine

    assert machine.cpuinfo("no such field") == ""
    assert machine.cpu_name()
    if os.path.exists("/proc/cpuinfo") and "vendor_id" in open("/proc/cpuinfo").read():
        assert mathlib._cpu_vendor() == machine.cpuinfo("vendor_id") != ""
