"""Every example in examples/ passes the check its README row gives, with cases actually run.

The command is the README's, plus ``--no-isolate`` (same cases, in this
process: faster) and ``--json`` to count what ran.
"""
from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from lstmspec.cli import main

torch = pytest.importorskip("torch")

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
COMMAND = re.compile(r"`lstmspec (check [^`]+)`")


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Small tensors: one thread is faster, and spares OpenMP spin-waits on a busy shared machine."""
    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(saved)


def readme_commands() -> dict[str, list[str]]:
    """example file name -> the argv of the check its README row gives."""
    commands = {}
    for line in (EXAMPLES / "README.md").read_text().splitlines():
        found = COMMAND.search(line)
        if line.startswith("| [") and found:
            argv = found.group(1).split()
            kernel = argv[argv.index("--kernel") + 1]
            commands[Path(kernel.split(":")[0]).name] = argv
    return commands


def test_every_example_has_a_readme_command():
    examples = sorted(p.name for p in EXAMPLES.glob("*.py"))
    commands = readme_commands()
    missing = [name for name in examples if name not in commands]
    assert not missing, f"examples without a `lstmspec check` row in examples/README.md={missing}, but should be []"
    assert set(commands) <= set(examples), f"README rows={sorted(commands)}, but examples/ has {examples}"


@pytest.mark.parametrize("example", sorted(readme_commands()))
def test_example_passes_its_readme_check(example, tmp_path, monkeypatch, capsys):
    uses_triton = "import triton" in (EXAMPLES / example).read_text()
    if uses_triton and importlib.util.find_spec("triton") is None:
        pytest.skip("the Triton example needs triton (lstmspec[triton], Linux x86-64)")
    argv = readme_commands()[example]
    monkeypatch.chdir(ROOT)  # the README's paths are relative to the repository root
    report = tmp_path / "report.json"
    call = "lstmspec " + " ".join(argv)
    if uses_triton:
        # a process of its own: Triton's LLVM aborts a process that loaded TensorFlow's first (earlier tests do)
        done = subprocess.run([sys.executable, "-m", "lstmspec", *argv, "-q", "--json", str(report)],
                              capture_output=True, text=True, timeout=600)
        code, out, err = done.returncode, done.stdout, done.stderr
    else:
        code = main(argv + ["--no-isolate", "-q", "--json", str(report)])
        out, err = capsys.readouterr()
    assert code == 0, f"exit code={code}, but should be 0 [{call}]\n{out}\n{err}"
    totals = json.loads(report.read_text())["totals"]
    assert totals["passed"] > 0, f"passed cases={totals['passed']}, but should be > 0 (all skipped?) [{call}]"
    assert totals["failed"] == 0, f"failed cases={totals['failed']}, but should be 0 [{call}]"
    if "--grad" in argv:
        results = json.loads(report.read_text())["results"]
        compared = {c["quantity"] for r in results for c in r.get("comparisons", [])}
        assert any(q.startswith("dL/d") for q in compared), (
            f"compared quantities={sorted(compared)}, but should include gradients dL/d... [{call}]")
