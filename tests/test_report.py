"""Report writers (`lstmspec/report/`): summary counts, terminal, Markdown, JSON, JUnit XML.

Results are built by hand (CaseResult, Comparison and Case are plain dataclasses),
so every status and every awkward value (an infinite error, a shape failure,
text XML cannot hold) is covered without running a framework.
"""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lstmspec.check.cases import Case
from lstmspec.check.precision import MULTIPLIER, PRECISIONS
from lstmspec.check.results import ERROR, FAIL, PASS, SKIP, CaseResult, Comparison
from lstmspec.report import (group_results, render_markdown, render_terminal, to_json, to_junit, totals,
                             write_json, write_report)
from lstmspec.report.failure import (MESSAGE_CHARS, failure_report, headline, kernel_reference, short_message,
                                     spec_reference)
from lstmspec.report.json_report import SCHEMA, VERSION
from lstmspec.report.junit import classname
from lstmspec.report.summary import Gap, format_worst, not_applicable, skip_reasons
from lstmspec.spec import load_spec
from lstmspec.spec.catalog import specs_dir

DIMS = (("batch", 2), ("time", 3), ("input", 4), ("units", 5))
TORCH, TORCH_TBF, KERAS = "torch.nn.LSTM", "torch.nn.LSTM(batch_first=False)", "keras.layers.LSTM"
CUDA_ONLY = "tf32 is a CUDA math mode"


def case(label: str = "", time: int = 3, **options) -> Case:
    """A case whose key differs by ``time`` and ``options``: keys are unique within a group, as in a real run."""
    dims = tuple((n, time if n == "time" else v) for n, v in DIMS)
    return Case("lstm", dims, (), tuple(options.items()), label)


def result(status: str, comparisons=(), *, impl=TORCH, device="cpu", precision="float32", c: Case | None = None,
           reason="", seconds=0.5, **kw) -> CaseResult:
    return CaseResult("lstm", impl, device, precision, c or case(), 7, status, list(comparisons), reason=reason,
                      seconds=seconds, math_mode="CPU (no TF32)" if device == "cpu" else "TF32 off",
                      convention=kw.pop("convention", "gates i, f, g, o"), **kw)


def value(quantity: str, error: float, bound: float = 4.4e-6, first_step=None, kind="value") -> Comparison:
    return Comparison(quantity, kind, error <= bound, error, error * 0.5, bound, 1e-7, first_step,
                      "NaN or Inf in the result" if math.isinf(error) else "")


PASSED = result(PASS, [value("y", 3.1e-7), value("dL/dW", 1.0e-6, kind="grad")], c=case("spec default sizes", time=4))
FAILED = result(FAIL, [value("y", 2.5e-3, first_step=2), value("h_T", 1e-7)], c=case(state="zeros"))
SHAPE = result(FAIL, [Comparison("shape of weight_ih_l0", "shape", False,
                                 message="shape (20, 4), but layout torch says (20, 5)"), value("y", 1e-7)],
               impl=TORCH_TBF, c=case("last output only", return_sequences=False), convention="time-major")
INF = result(FAIL, [value("y", math.inf, first_step=0)], c=case("one timestep", time=1))
ERRORED = result(ERROR, impl=KERAS, reason="ValueError: bad <input> & 'units' | \x00 control",
                 c=case(time=5))
SKIPS = [result(SKIP, precision="tf32", reason=CUDA_ONLY, c=case(time=t), seconds=0.0) for t in (6, 7, 8)]
OTHER_SKIP = result(SKIP, impl=KERAS, precision="float64", reason="keras.layers.LSTM has no float64", seconds=0.0)
RESULTS = [PASSED, FAILED, SHAPE, INF, ERRORED, *SKIPS, OTHER_SKIP]
META = {"command": "lstmspec check lstm --framework torch.nn.LSTM --seed 7", "date": "2025-01-02T03:04:05",
        "seed": 7, "versions": {"python": "3.11.7", "numpy": "1.26.4", "torch": "2.13.0"},
        "devices": {"cpu": "x86_64"}, "duration_s": 4.25}


# ------------------------------------------------------------------ summary
def test_summary_groups_by_spec_implementation_device_precision_in_run_order():
    keys = [g.key for g in group_results(RESULTS)]
    assert keys == [("lstm", TORCH, "cpu", "float32"), ("lstm", TORCH_TBF, "cpu", "float32"),
                    ("lstm", KERAS, "cpu", "float32"), ("lstm", TORCH, "cpu", "tf32"),
                    ("lstm", KERAS, "cpu", "float64")]


def test_summary_counts_fail_and_error_as_failed_and_keeps_errors_apart():
    groups = {g.key: g for g in group_results(RESULTS)}
    torch = groups[("lstm", TORCH, "cpu", "float32")]
    assert (torch.passed, torch.failed, torch.errors, torch.skipped) == (1, 2, 0, 0)
    assert torch.seconds == 1.5 and torch.math_modes == ["CPU (no TF32)"] and torch.convention == "gates i, f, g, o"
    keras = groups[("lstm", KERAS, "cpu", "float32")]
    assert (keras.passed, keras.failed, keras.errors, keras.skipped) == (0, 1, 1, 0)
    t = totals(group_results(RESULTS))
    assert (t.cases, t.passed, t.failed, t.errors, t.skipped) == (9, 1, 4, 1, 4)


def test_group_worst_is_the_largest_error_over_bound_including_inf():
    groups = {g.key: g for g in group_results([PASSED, FAILED])}
    worst = groups[("lstm", TORCH, "cpu", "float32")].worst
    assert (worst.quantity, worst.error) == ("y", 2.5e-3)
    assert format_worst(worst) == "0.0025 / 4.4e-06"
    assert format_worst(PASSED.worst) == "1e-06 / 4.4e-06"  # dL/dW: 1e-6 is nearer its bound than y's 3.1e-7
    assert format_worst(PASSED.comparisons[0]) == "3.1e-07 / 4.4e-06"
    assert group_results([PASSED, INF])[0].worst is INF.comparisons[0]
    assert format_worst(INF.worst) == "inf / 4.4e-06"


def test_group_worst_leaves_out_shapes_and_is_none_when_nothing_was_compared():
    shape_only = result(FAIL, [SHAPE.comparisons[0]])
    assert group_results([shape_only])[0].worst is None
    assert group_results(SKIPS)[0].worst is None
    assert format_worst(None) == ""


def test_skip_reasons_collapse_to_one_count_per_reason_most_frequent_first():
    assert skip_reasons(RESULTS) == [(CUDA_ONLY, 3), ("keras.layers.LSTM has no float64", 1)]


# ------------------------------------------------------------------ terminal
def test_terminal_failure_shows_quantity_error_bound_first_step_and_replay():
    text = render_terminal(RESULTS, META)
    assert "y: error 0.0025" in text and "> bound 4.4e-06" in text and "at step 2" in text
    assert FAILED.replay() in text and "--case" in FAILED.replay() and "--seed 7" in FAILED.replay()
    assert "shape of weight_ih_l0: shape (20, 4), but layout torch says (20, 5)" in text
    assert SHAPE.replay() in text and INF.replay() in text and ERRORED.replay() in text
    assert "y: NaN or Inf in the result" in text  # where NaN appears is said instead of "error inf"
    assert "ValueError: bad <input>" in text
    assert PASSED.replay() not in text  # passing cases are only counted


def test_terminal_table_has_counts_worst_and_time_per_group():
    lines = render_terminal(RESULTS, META).splitlines()
    header = lines[0].split()
    assert header[:7] == ["spec", "implementation", "device", "dtype", "pass", "fail", "skip"]
    torch_row = next(line for line in lines if line.startswith("lstm") and f" {TORCH} " in line
                     and "float32" in line)
    assert torch_row.split()[4:7] == ["1", "2", "0"]
    assert "inf / 4.4e-06" in torch_row and torch_row.rstrip().endswith("1.50")
    tf32_row = next(line for line in lines if line.startswith("lstm") and " tf32 " in line)
    assert tf32_row.split()[4:7] == ["0", "0", "3"]


def test_terminal_collapses_skips_to_one_line_per_reason_with_count():
    text = render_terminal(RESULTS, META)
    assert text.count(CUDA_ONLY) == 1
    assert f"   3 x {CUDA_ONLY}" in text and "   1 x keras.layers.LSTM has no float64" in text
    assert "Skipped (4):" in text


def test_terminal_ends_with_verdict_using_the_run_duration_when_given():
    assert render_terminal(RESULTS, META).splitlines()[-1] == "9 cases: 1 passed, 4 failed, 4 skipped in 4.25 s"
    assert render_terminal([PASSED]).splitlines()[-1] == "1 cases: 1 passed, 0 failed, 0 skipped in 0.50 s"


def test_terminal_with_no_results_is_only_the_verdict():
    assert render_terminal([], {}) == "0 cases: 0 passed, 0 failed, 0 skipped in 0.00 s\n"


# ------------------------------------------------------------------ markdown
def test_markdown_has_summary_table_with_math_mode_and_totals():
    md = render_markdown(RESULTS, META)
    assert md.startswith("# lstmspec conformance report\n")
    assert "| spec   | implementation" in md and "| math mode" in md
    assert "| lstm   | torch.nn.LSTM " in md and "CPU (no TF32)" in md
    assert "Totals: 9 cases, 1 passed, 4 failed (1 of them errors), 4 skipped; 4.25 s." in md
    assert "**9 cases: 1 passed, 4 failed, 4 skipped in 4.25 s**" in md


def test_markdown_states_the_tolerance_rule_with_every_precision_floor():
    md = render_markdown(RESULTS, META)
    assert "error = max|a - e| / max(1, max|e|)" in md
    assert f"bound = {MULTIPLIER:g} × yardstick + floor" in md
    for name in PRECISIONS:
        p = PRECISIONS.get(name)
        row = next(line for line in md.splitlines() if line.startswith(f"| {p.name} ") and p.doc in line)
        assert f" {p.floor:g} |" in row
    assert " 1e-12 |" in md and " 0.03 |" in md  # printed as given, not rounded to a fixed format


def test_markdown_renders_the_meta_that_is_present():
    md = render_markdown(RESULTS, META)
    assert "```sh\nlstmspec check lstm --framework torch.nn.LSTM --seed 7\n```" in md
    assert "- Seed: 7" in md and "- Date: 2025-01-02T03:04:05" in md and "- Duration (s): 4.25" in md
    assert "| torch     | 2.13.0    |" in md and "| cpu      | x86_64 |" in md
    bare = render_markdown(RESULTS, {"gpu_clock": "locked", "notes": ["no CUDA device", "tf32 skipped"], "empty": []})
    assert "- gpu_clock: locked" in bare and "Seed" not in bare and "| package" not in bare
    assert "- notes:\n  - no CUDA device\n  - tf32 skipped\n" in bare and "empty" not in bare
    assert "(no run metadata given)" in render_markdown(RESULTS, None)


def test_markdown_lists_failures_with_replay_conventions_and_skip_counts():
    md = render_markdown(RESULTS, META)
    assert f"```sh\n{FAILED.replay()}\n```" in md and f"```sh\n{ERRORED.replay()}\n```" in md
    assert "y: error 0.0025" in md
    assert f"- **{TORCH_TBF}**: time-major" in md and f"- **{TORCH}**: gates i, f, g, o" in md
    assert f"| {CUDA_ONLY} " in md and "|       3 |" in md


def test_markdown_escapes_pipes_in_table_cells():
    odd = result(SKIP, impl="a|b", reason="x | y")
    md = render_markdown([odd], {})
    assert "a\\|b" in md and "x \\| y" in md


def test_write_report_names_the_file_after_the_one_device_that_ran(tmp_path):
    paths = write_report(RESULTS, META, tmp_path / "out")
    assert paths == [tmp_path / "out" / "conformance-cpu.md"]
    assert paths[0].read_text(encoding="utf-8") == render_markdown(RESULTS, META)


def test_write_report_of_several_devices_writes_conformance_md(tmp_path):
    import dataclasses

    mixed = list(RESULTS) + [dataclasses.replace(RESULTS[0], device="cuda")]
    assert write_report(mixed, META, tmp_path) == [tmp_path / "conformance.md"]


# ------------------------------------------------------------------ json
def _strict(text: str):
    def reject(constant):
        raise AssertionError(f"non-standard JSON constant {constant}")

    return json.loads(text, parse_constant=reject)


def test_json_has_the_versioned_top_level_schema_and_totals():
    doc = to_json(RESULTS, META)
    assert list(doc) == ["schema", "version", "meta", "summary", "totals", "results", "not_applicable"]
    assert (doc["schema"], doc["version"]) == (SCHEMA, VERSION) == ("lstmspec-check", 1)
    assert doc["meta"] == META
    assert doc["totals"] == {"cases": 9, "passed": 1, "failed": 4, "errors": 1, "skipped": 4, "seconds": 2.5,
                             "not_applicable": 0}
    first = doc["summary"][0]
    assert (first["implementation"], first["cases"], first["passed"], first["failed"]) == (TORCH, 3, 1, 2)
    assert first["worst"]["quantity"] == "y" and first["worst"]["error"] == "inf"
    assert [r["case"] for r in doc["results"]] == [r.case.key for r in RESULTS]


def test_json_encodes_inf_as_a_string_and_round_trips_as_strict_json(tmp_path):
    path = write_json(tmp_path / "r" / "check.json", RESULTS, META)
    doc = _strict(path.read_text(encoding="utf-8"))
    assert doc == _strict(json.dumps(to_json(RESULTS, META), allow_nan=False))
    inf = doc["results"][3]["comparisons"][0]
    assert (inf["error"], inf["max_abs"], inf["first_step"]) == ("inf", "inf", 0)
    assert float(inf["error"]) == math.inf
    assert doc["results"][0]["comparisons"][0]["first_step"] is None
    assert doc["summary"][2]["worst"] is None  # the errored group compared nothing


def test_json_meta_with_nan_and_non_json_values_stays_valid(tmp_path):
    doc = to_json([], {"nan": math.nan, "neg": -math.inf, "path": tmp_path, "versions": {"torch": (2, 13)}})
    assert doc["meta"] == {"nan": "nan", "neg": "-inf", "path": str(tmp_path), "versions": {"torch": [2, 13]}}
    assert doc["summary"] == [] and doc["results"] == []
    json.dumps(doc, allow_nan=False)


# ------------------------------------------------------------------ junit
def test_junit_parses_with_one_suite_per_group_and_counts():
    root = ET.fromstring(to_junit(RESULTS, META))
    assert root.tag == "testsuites"
    assert {k: root.get(k) for k in ("tests", "failures", "errors", "skipped", "time")} == {
        "tests": "9", "failures": "3", "errors": "1", "skipped": "4", "time": "4.250"}
    suites = {s.get("name"): s for s in root.findall("testsuite")}
    assert list(suites) == ["lstmspec.lstm.torch_nn_LSTM.cpu.float32",
                            "lstmspec.lstm.torch_nn_LSTM_batch_first_False.cpu.float32",
                            "lstmspec.lstm.keras_layers_LSTM.cpu.float32",
                            "lstmspec.lstm.torch_nn_LSTM.cpu.tf32",
                            "lstmspec.lstm.keras_layers_LSTM.cpu.float64"]
    torch = suites["lstmspec.lstm.torch_nn_LSTM.cpu.float32"]
    assert {k: torch.get(k) for k in ("tests", "failures", "errors", "skipped", "time")} == {
        "tests": "3", "failures": "2", "errors": "0", "skipped": "0", "time": "1.500"}
    props = {p.get("name"): p.get("value") for p in torch.iter("property")}
    assert props["versions.torch"] == "2.13.0" and props["seed"] == "7" and props["math_mode"] == "CPU (no TF32)"


def test_junit_testcases_are_named_by_case_key_under_the_sanitised_classname():
    root = ET.fromstring(to_junit(RESULTS, META))
    cases = root.findall("testsuite/testcase")
    by_group = [r for g in group_results(RESULTS) for r in g.results]
    assert [c.get("name") for c in cases] == [r.case.key for r in by_group]
    assert cases[0].get("name") == "batch=2,time=4,input=4,units=5"
    assert {c.get("classname") for c in cases} == {s.get("name") for s in root.findall("testsuite")}
    assert all(".".join(c.get("classname").split(".")[1:]).count(".") == 3 for c in cases)
    assert cases[0].get("time") == "0.500" and len(list(cases[0])) == 0  # a pass has no child


def test_junit_failure_carries_the_failing_comparisons_and_replay():
    root = ET.fromstring(to_junit(RESULTS, META))
    by_name = {(c.get("classname"), c.get("name")): c for c in root.iter("testcase")}
    fail = by_name[("lstmspec.lstm.torch_nn_LSTM.cpu.float32", FAILED.case.key)].find("failure")
    assert "y: error 0.0025" in fail.get("message") and "bound 4.4e-06" in fail.get("message")
    assert "h_T" not in fail.get("message")  # only what failed
    assert f"replay: {FAILED.replay()}" in fail.text and "step 2" in fail.text
    shape = by_name[("lstmspec.lstm.torch_nn_LSTM_batch_first_False.cpu.float32", SHAPE.case.key)].find("failure")
    assert "shape of weight_ih_l0" in shape.get("message")
    error = by_name[("lstmspec.lstm.keras_layers_LSTM.cpu.float32", ERRORED.case.key)].find("error")
    assert error.get("message").startswith("ValueError: bad <input> & 'units' |")
    assert ERRORED.replay() in error.text
    skipped = root.findall(".//skipped")
    assert len(skipped) == 4 and skipped[0].get("message") == CUDA_ONLY


def test_junit_replaces_characters_xml_cannot_hold():
    xml = to_junit([ERRORED], {})
    assert "\x00" not in xml
    assert ET.fromstring(xml).find(".//error").get("message").endswith("\ufffd control")


@settings(max_examples=50, deadline=None)
@given(text=st.text(), status=st.sampled_from([PASS, FAIL, SKIP, ERROR]), error=st.floats())
def test_any_text_and_any_float_give_parseable_junit_and_strict_json(text, status, error):
    r = result(status, [value(text or "y", error)] if status in (PASS, FAIL) else [], impl=text, reason=text)
    root = ET.fromstring(to_junit([r], {"note": text}))
    assert root.get("tests") == "1"
    _strict(json.dumps(to_json([r], {"note": text}), allow_nan=False))
    assert render_markdown([r], {"note": text}) and render_terminal([r]).endswith("s\n")


# ------------------------------------------------------------------ failure (lstmspec/report/failure.py)
def _many(n: int, diagnosis: str = "") -> CaseResult:
    """A failure over ``n`` quantities, the k-th k times over its bound; the last has the worst element."""
    comparisons = [value(f"dL/dq{k}", 4.4e-6 * (k + 2)) for k in range(n)]
    comparisons[-1].worst_index = (1, 0, 3)
    return result(FAIL, [value("y", 1e-7), *comparisons], c=case("one timestep", time=1), diagnosis=diagnosis)


def test_failure_headline_is_the_diagnosis_when_one_matched():
    r = _many(5, diagnosis="matches lstm with gate order f,i,g,o")
    assert headline(r) == "diagnosis: matches lstm with gate order f,i,g,o"
    assert failure_report(r).splitlines()[0] == headline(r)


def test_failure_headline_without_diagnosis_is_the_worst_quantity_with_error_bound_and_index():
    assert headline(_many(5)) == "dL/dq4: error 2.64e-05 > bound 4.4e-06 at index (1, 0, 3) (and 4 more quantities over the bound)"
    assert headline(FAILED) == "y: error 0.0025 > bound 4.4e-06"
    assert headline(SHAPE) == "shape of weight_ih_l0: shape (20, 4), but layout torch says (20, 5)"
    assert headline(INF) == "y: NaN or Inf in the result"
    assert headline(ERRORED).startswith("ValueError: bad <input>")


def test_failure_report_shows_the_case_three_worst_quantities_n_more_the_worst_element_and_replay():
    lines = failure_report(_many(5)).splitlines()
    assert lines[1] == "case: lstm | torch.nn.LSTM | cpu float32 | one timestep (batch=2,time=1,input=4,units=5)"
    assert [line.split(":")[0] for line in lines[2:5]] == ["  dL/dq4", "  dL/dq3", "  dL/dq2"]
    assert lines[5] == "  2 more over the bound: dL/dq1, dL/dq0"
    assert lines[6] == "worst element: dL/dq4 at index (1, 0, 3) (error 2.64e-05, bound 4.4e-06)"
    assert lines[7] == f"replay: {_many(5).replay()}" and len(lines) == 8
    every = failure_report(_many(5), every=True).splitlines()
    assert "more over the bound" not in "\n".join(every) and sum(line.startswith("  dL/dq") for line in every) == 5


def test_failure_message_for_junit_is_cut_to_200_characters():
    long = _many(3, diagnosis="matches lstm with " + "x" * 400)
    assert len(short_message(long)) == MESSAGE_CHARS and short_message(long).endswith("...")
    assert short_message(FAILED) == headline(FAILED)


def module_level_kernel(x, state, params, config):  # noqa: ANN001 - a kernel named by FILE.py:NAME
    return x, state


def test_kernel_reference_names_a_module_level_function_by_its_file_and_refuses_a_closure(tmp_path):
    here = Path(__file__).resolve()
    ref, why = kernel_reference(module_level_kernel, here.parent)
    assert (ref, why) == (f"{here.name}:module_level_kernel", "")
    ref, _ = kernel_reference(module_level_kernel, tmp_path)
    assert ref == f"{Path(os.path.relpath(here, tmp_path)).as_posix()}:module_level_kernel"

    def closure(x, state, params, config):  # noqa: ANN001
        return x, state

    ref, why = kernel_reference(closure, here.parent)
    assert ref is None and "closure" in why


def test_spec_reference_is_a_shipped_specs_name_and_another_specs_relative_path(tmp_path):
    assert spec_reference(load_spec("lstm"), tmp_path) == "lstm"
    mine = tmp_path / "specs" / "mine.toml"
    mine.parent.mkdir()
    mine.write_text((specs_dir() / "lstm.toml").read_text())
    assert spec_reference(load_spec(mine), tmp_path) == "specs/mine.toml"


def test_junit_read_by_junitparser_leads_each_message_with_the_diagnosis_or_worst_quantity_in_200_characters(tmp_path):
    junitparser = pytest.importorskip("junitparser")
    long = _many(20, diagnosis="matches lstm with gate order f,i,g,o (the spec's i, f parameters drive gates f, i): "
                 + "y, h_T, c_T within the bound " * 10)
    path = tmp_path / "junit.xml"
    path.write_text(to_junit([long, FAILED, ERRORED, PASSED], META))
    cases = {(c.classname, c.name): c for suite in junitparser.JUnitXml.fromfile(str(path)) for c in suite}
    failure = cases[(classname(group_results([long])[0]), long.case.key)].result[0]
    assert isinstance(failure, junitparser.Failure)
    assert failure.message.startswith("diagnosis: matches lstm with gate order f,i,g,o") and len(failure.message) == 200
    assert failure.text == failure_report(long, every=True)  # the body: all 20 quantities and the replay
    assert "dL/dq0" in failure.text and f"replay: {long.replay()}" in failure.text
    plain = cases[(classname(group_results([FAILED])[0]), FAILED.case.key)].result[0]
    assert plain.message == "y: error 0.0025 > bound 4.4e-06"
    error = cases[(classname(group_results([ERRORED])[0]), ERRORED.case.key)].result[0]
    assert isinstance(error, junitparser.Error) and error.message.startswith("ValueError: bad <input>")


def test_junit_of_a_real_check_of_a_gate_swap_says_the_diagnosis_first(tmp_path):
    junitparser = pytest.importorskip("junitparser")
    kernel = Path(__file__).resolve().parent / "numpy_kernels.py"
    out = tmp_path / "junit.xml"
    ran = subprocess.run([sys.executable, "-m", "lstmspec", "check", "lstm", "--kernel",
                          f"{kernel}:input_and_forget_gates_swapped", "--dtype", "float64", "--where", "time=1",
                          "--junit", str(out)], capture_output=True, text=True, timeout=300)
    assert ran.returncode == 1, ran.stderr
    failures = [r for suite in junitparser.JUnitXml.fromfile(str(out)) for c in suite for r in c.result
                if isinstance(r, junitparser.Failure)]
    assert failures
    for failure in failures:
        assert len(failure.message) <= MESSAGE_CHARS
        assert failure.message.startswith("diagnosis: matches lstm with gate order f,i,g,o"), failure.message
        assert "\ncase: lstm | " in failure.text and ":input_and_forget_gates_swapped | cpu float64 | " in failure.text
        assert "\nreplay: lstmspec check " in failure.text


# ------------------------------------------------------------------ not applicable (capability gaps)
ORT = "onnxruntime.LSTM"
GAPS = [result(SKIP, impl=ORT, precision="float64", reason=f"{ORT} has no float64 (it supports float32)",
               c=case(time=t), seconds=0.0, not_applicable=True) for t in (2, 3, 4)]
REFUSED = result(SKIP, impl=ORT, reason="onnxruntime 1.32.0 refuses layout=1", c=case(time=9), seconds=0.0,
                 not_applicable=True)
DECLARED = result(SKIP, impl="my_lstm", reason="declared: my_lstm supports only direction=forward", kind="kernel",
                  c=case(time=5), seconds=0.0)
WITH_GAPS = [PASSED, *GAPS, REFUSED, DECLARED]


def test_capability_gaps_are_one_line_per_implementation_and_reason_not_cases_or_rows():
    assert not_applicable(WITH_GAPS) == [Gap("lstm", ORT, f"{ORT} has no float64 (it supports float32)", 3),
                                         Gap("lstm", ORT, "onnxruntime 1.32.0 refuses layout=1", 1)]
    groups = group_results(WITH_GAPS)
    assert [(g.implementation, g.precision) for g in groups] == [(TORCH, "float32"), ("my_lstm", "float32")]
    assert totals(groups).cases == 2 and totals(groups).skipped == 1  # the kernel's declaration stays a skip
    text = render_terminal(WITH_GAPS, META)
    assert "Not applicable (4; what these implementations cannot run):" in text
    assert f"  {ORT} has no float64 (it supports float32) (lstm, 3 cases)" in text
    assert f"  {ORT}: onnxruntime 1.32.0 refuses layout=1 (lstm, 1 case)" in text
    assert "Skipped (1):\n     1 x declared: my_lstm supports only direction=forward" in text
    assert text.rstrip().endswith("2 cases: 1 passed, 0 failed, 1 skipped, 4 not applicable in 4.25 s")
    assert not any(line.startswith(f"lstm    {ORT}") for line in text.splitlines())  # no table row


def test_capability_gaps_are_no_junit_testcase_and_no_json_result():
    root = ET.fromstring(to_junit(WITH_GAPS, META))
    assert root.get("tests") == "2" and root.get("skipped") == "1"
    assert {c.get("name") for c in root.iter("testcase")} == {PASSED.case.key, DECLARED.case.key}
    doc = to_json(WITH_GAPS, META)
    assert [r["implementation"] for r in doc["results"]] == [TORCH, "my_lstm"]
    assert doc["totals"]["not_applicable"] == 4 and doc["totals"]["cases"] == 2
    assert doc["not_applicable"][0] == {"spec": "lstm", "implementation": ORT,
                                        "reason": f"{ORT} has no float64 (it supports float32)", "cases": 3}
    markdown = render_markdown(WITH_GAPS, META)
    assert "## Not applicable" in markdown and "4 not applicable" in markdown


def test_a_failure_in_the_terminal_is_told_once_diagnosis_first_with_three_quantities_unless_every():
    r = _many(5, diagnosis="matches lstm with gate order f,i,g,o")
    text = render_terminal([r], META)
    block = text[text.index("Failed (1):"):].splitlines()
    assert block[1] == "FAIL  lstm | torch.nn.LSTM | cpu float32 | one timestep"
    assert block[2] == "      diagnosis: matches lstm with gate order f,i,g,o"
    assert block[6] == "        2 more over the bound: dL/dq1, dL/dq0"
    assert text.count("matches lstm with gate order") == 1 and text.count(r.replay()) == 1
    every = render_terminal([r], META, every=True)
    assert "more over the bound" not in every and all(f"dL/dq{k}: error" in every for k in range(5))
