"""Failure patterns across cases: lstmspec/check/patterns.py, printed by `lstmspec check` (terminal, JSON, Markdown)."""
from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from lstmspec.check.cases import make_case
from lstmspec.check.patterns import find_patterns
from lstmspec.check.results import ERROR, FAIL, PASS, SKIP, CaseResult
from lstmspec.spec.catalog import load_spec


def result(spec, status, reason="", precision="float64", **where):
    dims = {k: v for k, v in where.items() if k in spec.dims}
    attrs = {k: v for k, v in where.items() if k in spec.attributes}
    return CaseResult(spec.name, "k.py:conv", "cpu", precision, make_case(spec, dims, attrs), 0, status,
                      reason=reason)


def test_an_even_kernel_crash_is_one_line_naming_the_parity_and_the_crash_site() -> None:
    spec = load_spec("convlstm2d")
    crash = "raised RuntimeError: size mismatch at convlstm.py:50: `c = f * c`"
    results = [result(spec, FAIL, crash, kernel_rows=2, kernel_cols=2) for _ in range(1)]
    results += [result(spec, FAIL, crash, kernel_rows=3, kernel_cols=2, padding="same")]
    results += [result(spec, PASS, kernel_rows=3, kernel_cols=3), result(spec, PASS, kernel_rows=3, kernel_cols=3,
                                                                         padding="same")]
    results += [result(spec, SKIP, "declared", kernel_rows=2, kernel_cols=2, padding="same")]
    (pattern,) = find_patterns(spec, results)
    assert pattern.line == ("fails on every case with an even kernel size (kernel_rows or kernel_cols even: 2 of 2) "
                            "and passes every odd one (2 of 2); all raised RuntimeError at convlstm.py:50")


def test_a_precision_can_be_the_pattern() -> None:
    spec = load_spec("lstm")
    results = [result(spec, FAIL, precision="float32"), result(spec, FAIL, precision="float32", batch=1),
               result(spec, PASS), result(spec, PASS, batch=1)]
    (pattern,) = find_patterns(spec, results)
    assert pattern.predicate == "precision=float32" and pattern.failing == 2 and pattern.passing == 2


def test_failing_everywhere_and_no_common_value_are_said_plainly() -> None:
    spec = load_spec("lstm")
    every = [result(spec, ERROR, "boom", batch=b) for b in (1, 2, 3)]
    assert find_patterns(spec, every)[0].line == "fails on every case it ran (3 of 3)"
    mixed = [result(spec, FAIL, batch=1, time=2), result(spec, FAIL, batch=2, time=1),
             result(spec, PASS, batch=1, time=1), result(spec, PASS, batch=2, time=2)]
    assert find_patterns(spec, mixed)[0].line == "fails on 2 of 4 cases with no single value in common"


def test_no_pattern_without_failures() -> None:
    spec = load_spec("lstm")
    assert find_patterns(spec, [result(spec, PASS), result(spec, SKIP, "x")]) == []


def test_check_prints_the_pattern_of_a_half_kernel_padding_kernel(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("torch")
    from lstmspec.cli import main

    kernel = tmp_path / "halfk.py"
    kernel.write_text(textwrap.dedent('''
        import torch
        import torch.nn.functional as F

        def convlstm(x, state, params, config):
            h, c = state["h"], state["c"]
            W = torch.cat([params[f"W_{g}"] for g in "ifgo"], dim=-1).permute(3, 2, 0, 1)
            U = torch.cat([params[f"U_{g}"] for g in "ifgo"], dim=-1).permute(3, 2, 0, 1)
            b = torch.cat([params[f"b_{g}"] for g in "ifgo"])
            pad = (W.shape[2] // 2, W.shape[3] // 2)  # right for odd kernels only
            ys = []
            for t in range(x.shape[1]):
                z = F.conv2d(x[:, t].permute(0, 3, 1, 2), W, b, padding=pad) + F.conv2d(h.permute(0, 3, 1, 2), U, padding=pad)
                i, f, g, o = z.permute(0, 2, 3, 1).chunk(4, dim=-1)
                c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
                h = torch.sigmoid(o) * torch.tanh(c)
                ys.append(h)
            return torch.stack(ys, dim=1), {"h": h, "c": c}

        convlstm.lstmspec_supports = {"padding": ["same"], "strides": [[1, 1]], "dilation": [[1, 1]],
                                      "activation": ["tanh"], "recurrent_activation": ["sigmoid"]}
        '''))
    out = tmp_path / "r.json"
    code = main(["check", "convlstm2d", "--kernel", f"{kernel}:convlstm", "--dtype", "float64", "-q", "--no-grad",
                 "--json", str(out), "--report", str(tmp_path)])
    assert code == 1
    text = capsys.readouterr().out
    line = next(line for line in text.splitlines() if "fails on every case with" in line)
    assert "an even kernel size (kernel_rows or kernel_cols even:" in line and "passes every odd one" in line
    assert "all raised RuntimeError at halfk.py:" in line
    (pattern,) = json.loads(out.read_text())["meta"]["patterns"]
    assert pattern["pattern"] in line and pattern["failing"] >= 6
    assert "## Failure patterns" in next(tmp_path.glob("conformance*.md")).read_text()
