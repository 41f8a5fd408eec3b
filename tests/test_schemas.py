"""``lstmspec/schemas/*.json``: the JSON Schema of every JSON output, validated against real outputs.

Each output is made by the real command in a fresh process (``check --json``, ``bench --json``,
``shapes --format json``, ``defaults --format json``) and read back as a reader would.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from lstmspec import schemas
from lstmspec.errors import LookupFailed

jsonschema = pytest.importorskip("jsonschema")

TESTS = Path(__file__).resolve().parent


def lstmspec_cli(*args: str, ok: tuple[int, ...] = (0,)) -> subprocess.CompletedProcess:
    ran = subprocess.run([sys.executable, "-m", "lstmspec", *args], capture_output=True, text=True, timeout=600)
    assert ran.returncode in ok, ran.stderr
    return ran


def validate(document: dict) -> None:
    """Valid against the schema its own ``schema`` field names, and that schema is itself valid."""
    schema = schemas.load(document["schema"])
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.Draft202012Validator(schema).validate(document)


@pytest.mark.parametrize("name", schemas.NAMES)
def test_every_shipped_schema_is_a_valid_json_schema_that_pins_name_and_integer_version(name):
    schema = schemas.load(name)
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["properties"]["schema"] == {"const": f"lstmspec-{name}"}
    assert isinstance(schema["properties"]["version"]["const"], int)
    assert {"schema", "version"} <= set(schema["required"])


def test_an_unknown_schema_name_lists_the_shipped_ones():
    with pytest.raises(LookupFailed, match="available: bench, check, defaults, shapes"):
        schemas.load("lstmspec-timing")


def test_check_json_of_a_failing_kernel_is_valid_with_patterns_output_and_worst_index(tmp_path):
    out = tmp_path / "check.json"
    lstmspec_cli("check", "lstm", "--kernel", f"{TESTS / 'numpy_kernels.py'}:input_and_forget_gates_swapped",
                 "--dtype", "float64", "--where", "units=6", "--json", str(out), ok=(1,))
    doc = json.loads(out.read_text())
    validate(doc)
    failed = [r for r in doc["results"] if r["status"] == "fail"]
    assert failed and all(isinstance(r["output"], str) for r in doc["results"])
    assert any(c["worst_index"] for r in failed for c in r["comparisons"])
    assert doc["meta"]["patterns"], "a check with failures and passes should carry its failure pattern"


def test_check_json_with_an_infinite_error_stays_valid():
    from lstmspec.report import to_json

    from test_report import META, RESULTS

    validate(to_json(RESULTS, META))
    doc = to_json(RESULTS, META)
    doc["results"][0]["status"] = "flaky"
    with pytest.raises(jsonschema.ValidationError):
        validate(doc)


def test_shapes_json_is_valid():
    doc = json.loads(lstmspec_cli("shapes", "lstm", "--format", "json").stdout)
    validate(doc)
    assert (doc["schema"], doc["version"]) == ("lstmspec-shapes", 1)


def test_defaults_json_is_valid():
    doc = json.loads(lstmspec_cli("defaults", "lstm", "--format", "json").stdout)
    validate(doc)
    assert (doc["schema"], doc["version"]) == ("lstmspec-defaults", 1)


def test_bench_json_is_valid(tmp_path):
    pytest.importorskip("torch")
    out = tmp_path / "bench.json"
    lstmspec_cli("bench", "lstm", "--suite", "tiny", "--quick", "--threads", "1", "--framework",
                 "reference,torch.nn.LSTM", "--json", str(out), "-q")
    doc = json.loads(out.read_text())
    validate(doc)
    assert (doc["schema"], doc["version"]) == ("lstmspec-bench", 1) and doc["rows"]


def test_the_check_schema_schema_md_and_case_result_to_json_name_the_same_fields():
    from test_report import FAILED

    schema = schemas.load("check")
    doc = (Path(schemas.__file__).parents[1] / "report" / "SCHEMA.md").read_text()
    result = schema["$defs"]["result"]["properties"]
    comparison = schema["$defs"]["comparison"]["properties"]
    assert set(FAILED.to_json()) == set(result) == set(schema["$defs"]["result"]["required"])
    assert set(FAILED.to_json()["comparisons"][0]) == set(comparison)
    fields = [*schema["properties"], *schema["properties"]["meta"]["properties"], *result, *comparison,
              *schema["$defs"]["group"]["properties"], *schema["$defs"]["pattern"]["properties"]]
    missing = [f for f in fields if f"`{f}`" not in doc]
    assert not missing, f"fields in schemas/check.json but not in SCHEMA.md: {missing}"
