"""The mutation score of ``lstmspec check`` on the default case matrix, CPU, float64 and float32.

tests/mutants/ holds kernels with known answers: wrong ones (one plausible
real-world bug each, named by the function and its docstring) must fail, and
correct ones written in different ways must pass. A wrong kernel only counts
as caught if cases really ran (a kernel that declares support for nothing
skips every case and fails none: that is not a catch).
"""
from __future__ import annotations

import functools
from collections import Counter
from dataclasses import dataclass, field

import pytest

torch = pytest.importorskip("torch")

from lstmspec.api import check_kernel  # noqa: E402
from lstmspec.check.results import ERROR, FAIL, PASS, SKIP  # noqa: E402
from mutants import BY_SPEC  # noqa: E402

DTYPES = ("float64", "float32")
MIN_PASSES = 4  # a correct kernel must be shown right on at least this many (case, dtype) runs
MIN_WRONG, MIN_CORRECT = 30, 5


@pytest.fixture(scope="module", autouse=True)
def fast_checks():
    """Detection only, on one thread.

    The score is about which kernels fail, not what their failures are named: the mismatch diagnosis
    (up to 2 s of catalogue variants per failed case, tested in test_diagnose.py) is switched off here
    (``diagnose=False``),
    as it made this file 284 s instead of ~30 s. One torch thread: the kernels are tiny, and it spares
    OpenMP spin-waits on a busy shared machine (measured 19 s vs 145 s for the convlstm2d kernels).
    """
    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(saved)


@dataclass
class Tally:
    """Status counts of one kernel on the default matrix, per dtype and over both."""

    counts: dict[str, Counter] = field(default_factory=lambda: {d: Counter() for d in (*DTYPES, "all")})
    first_failure: str = ""

    def ran(self, dtype: str = "all") -> int:
        c = self.counts[dtype]
        return c[PASS] + c[FAIL] + c[ERROR]

    def caught(self, dtype: str = "all") -> bool:
        return self.ran(dtype) >= 1 and self.counts[dtype][FAIL] >= 1

    def bad(self, dtype: str = "all") -> int:
        return self.counts[dtype][FAIL] + self.counts[dtype][ERROR]


def ref(spec: str, name: str) -> str:
    return f"{BY_SPEC[spec].__name__}:{name}"  # mutants.<spec>_kernels:name, importable (tests/ is on sys.path)


def tally_of(kernel, spec: str, name: str) -> Tally:
    out = Tally()
    for result in check_kernel(kernel, spec, dtypes=DTYPES, name=name, diagnose=False):
        out.counts[result.precision][result.status] += 1
        out.counts["all"][result.status] += 1
        if result.status in (FAIL, ERROR) and not out.first_failure:
            out.first_failure = result.summary_line()
    return out


@functools.cache
def tally(spec: str, name: str) -> Tally:
    """Run one kernel of tests/mutants on the default matrix, once per session (the score test reuses it)."""
    return tally_of(getattr(BY_SPEC[spec], name), spec, ref(spec, name))


def call(spec: str, name: str) -> str:
    return f"check_kernel({ref(spec, name)}, {spec!r}, dtypes={DTYPES})"


def listed(kind: str) -> list[tuple[str, str]]:
    return [(spec, fn.__name__) for spec, module in BY_SPEC.items() for fn in getattr(module, kind)]


@pytest.mark.parametrize("spec, name", [pytest.param(s, n, id=f"{s}-{n}") for s, n in listed("WRONG")])
def test_wrong_kernel_fails_the_default_matrix(spec, name):
    t = tally(spec, name)
    assert t.ran() >= 1, (f"cases run={t.ran()}, but should be >= 1: every case was skipped "
                          f"({t.counts['all'][SKIP]} skips), so nothing was checked [{call(spec, name)}]")
    assert t.caught(), (f"failing cases={t.counts['all'][FAIL]} of {t.ran()} run, but should be >= 1: "
                        f"the bug went unnoticed [{call(spec, name)}]")


@pytest.mark.parametrize("spec, name", [pytest.param(s, n, id=f"{s}-{n}") for s, n in listed("CORRECT")])
def test_correct_kernel_passes_the_default_matrix(spec, name):
    t = tally(spec, name)
    assert t.bad() == 0, f"failing cases={t.bad()}, but should be 0 [{call(spec, name)}]\n{t.first_failure}"
    for dtype in DTYPES:
        passed = t.counts[dtype][PASS]
        assert passed >= MIN_PASSES // 2, f"{dtype} passes={passed}, but should be >= {MIN_PASSES // 2} [{call(spec, name)}]"
    assert t.counts["all"][PASS] >= MIN_PASSES, (f"passes={t.counts['all'][PASS]}, but should be >= {MIN_PASSES} "
                                                 f"[{call(spec, name)}]")


def test_default_matrix_has_a_batch_of_one_mixed_axis_strides_and_a_non_square_same_kernel():
    """batch of one, mixed-axis strides/dilation, and `same` with the non-square default kernel."""
    from lstmspec import load_spec
    from lstmspec.check.cases import default_matrix

    lstm_cases = default_matrix(load_spec("lstm"))
    assert any(dict(c.dims)["batch"] == 1 for c in lstm_cases)
    conv = default_matrix(load_spec("convlstm2d"))
    attrs = [dict(c.attrs) for c in conv]
    assert any(a.get("strides") == (2, 1) for a in attrs) and any(a.get("dilation") == (1, 2) for a in attrs)
    assert any(a.get("padding") == "same" and dict(c.dims)["kernel_rows"] != dict(c.dims)["kernel_cols"]
               for a, c in zip(attrs, conv))


def test_a_kernel_that_supports_nothing_is_not_counted_as_caught():
    """The guard is needed: a wrong kernel declaring no supported value skips every case and fails none."""
    def claims_nothing(x, state, params, config):
        raise AssertionError("never called: every case is skipped by declaration")

    claims_nothing.lstmspec_supports = {"batch": (99,)}  # a size no case of the matrix has
    t = tally_of(claims_nothing, "lstm", "claims_nothing")
    assert t.bad() == 0 and t.ran() == 0, f"cases run={t.ran()}, failed={t.bad()}, but should be 0 and 0"
    assert not t.caught(), "caught=True, but should be False for a kernel that ran no case"


def test_mutation_score(capsys):
    """All wrong kernels caught and all correct ones passing, at float64 and float32; prints the score."""
    wrong, correct = listed("WRONG"), listed("CORRECT")
    lines = [f"mutation score of the default matrix (CPU, {', '.join(DTYPES)}):"]
    for dtype in (*DTYPES, "all"):
        hit = sum(tally(*k).caught(dtype) for k in wrong)
        ok = sum(tally(*k).bad(dtype) == 0 for k in correct)
        lines.append(f"  {dtype:8} wrong kernels caught {hit}/{len(wrong)}, correct kernels passing {ok}/{len(correct)}")
    only64 = [ref(*k) for k in wrong if not tally(*k).caught("float32")]
    if only64:
        lines.append(f"  caught at float64 only (bugs that are float32-accurate by nature): {', '.join(only64)}")
    with capsys.disabled():
        print("\n" + "\n".join(lines))
    missed = [ref(*k) for k in wrong if not tally(*k).caught()]
    broken = [ref(*k) for k in correct if tally(*k).bad() or tally(*k).counts["all"][PASS] < MIN_PASSES]
    assert len(wrong) >= MIN_WRONG, f"wrong kernels={len(wrong)}, but should be >= {MIN_WRONG}"
    assert len(correct) >= MIN_CORRECT, f"correct kernels={len(correct)}, but should be >= {MIN_CORRECT}"
    specs = ({s for s, _ in wrong}, {s for s, _ in correct})
    assert specs == (set(BY_SPEC), set(BY_SPEC)), (f"specs with (wrong, correct) kernels={specs}, "
                                                   f"but should be {set(BY_SPEC)} each")
    assert not missed, f"uncaught wrong kernels={missed}, but should be []"
    assert not broken, f"correct kernels failing or barely run={broken}, but should be []"


def test_the_per_device_script_counts_as_this_file_does(tmp_path, capsys):
    """benchmarks/mutation_score.py (for CUDA's precisions) on the CPU: every wrong lstm kernel caught at float64."""
    import importlib.util
    import json
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "mutation_score.py"
    loader = importlib.util.spec_from_file_location("mutation_score", path)
    script = importlib.util.module_from_spec(loader)
    loader.loader.exec_module(script)
    out = tmp_path / "score.json"
    assert script.main(["--spec", "lstm", "--dtype", "float64", "--json", str(out)]) == 0
    kernels = json.loads(out.read_text())["kernels"]
    wrong = [k for k in kernels if k["kind"] == "wrong"]
    assert len(wrong) == len(listed_for("lstm", "WRONG"))
    uncaught = [k["kernel"] for k in wrong if not k["counts"]["float64"].get(FAIL)]
    assert uncaught == [] and tally("lstm", wrong[0]["kernel"]).caught("float64")
    correct = len(listed_for("lstm", "CORRECT"))
    assert f"| float64 | {len(wrong)}/{len(wrong)} | 0 | {correct}/{correct} |" in capsys.readouterr().out


def listed_for(spec: str, kind: str) -> list[tuple[str, str]]:
    return [k for k in listed(kind) if k[0] == spec]
