"""Results of a check as values: what was compared, against which bound, and how to replay it."""
from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import Any

from .cases import Case

PASS, FAIL, SKIP, ERROR = "pass", "fail", "skip", "error"


@dataclass
class Comparison:
    """One quantity of one case: ``y``, ``h_T``, ``dL/dW_f``, ``shape of weight_ih_l0``..."""

    quantity: str
    kind: str  # "shape" | "value" | "grad"
    passed: bool
    error: float = 0.0  # max |actual - expected| / max(1, max |expected|)
    max_abs: float = 0.0
    bound: float = 0.0
    yardstick: float = 0.0
    first_step: int | None = None  # first timestep whose error exceeds the bound
    message: str = ""
    worst_index: tuple[int, ...] | None = None  # index of the largest |actual - expected| of a failed quantity

    def describe(self) -> str:
        if self.kind == "shape":
            return f"{self.quantity}: {self.message}"
        if self.message and self.error == float("inf"):
            return f"{self.quantity}: {self.message}"
        where = f", first over the bound at step {self.first_step}" if self.first_step is not None else ""
        if self.worst_index is not None:
            where += f", worst at index {self.worst_index}"
        op = "<=" if self.passed else ">"
        return (f"{self.quantity}: error {self.error:.3g} (max abs {self.max_abs:.3g}) {op} bound {self.bound:.3g}"
                f" (yardstick {self.yardstick:.3g}){where}")


@dataclass
class CaseResult:
    spec: str
    implementation: str
    device: str
    precision: str
    case: Case
    run_seed: int
    status: str
    comparisons: list[Comparison] = field(default_factory=list)
    reason: str = ""  # skip reason, or what went wrong for ERROR
    seconds: float = 0.0
    math_mode: str = ""
    convention: str = ""
    spec_arg: str = ""  # how the spec was named on the command line (a name or a path)
    kind: str = "framework"  # "framework" | "kernel"
    diagnosis: str = ""
    gates: str = ""  # where a failing kernel's gates first left the equations (kernels that return gates)
    output: str = ""  # what an isolated kernel printed during this case (truncated)
    not_applicable: bool = False  # a SKIP that is a framework's capability gap: counted apart, never a case row
    traceback: str = ""  # every frame of a kernel's crash, the framework's too (the reason names the kernel's own)

    @property
    def worst(self) -> Comparison | None:
        values = [c for c in self.comparisons if c.kind != "shape"]
        if not values:
            return None
        return max(values, key=lambda c: c.error / c.bound if c.bound else 0.0)

    @property
    def failures(self) -> list[Comparison]:
        return [c for c in self.comparisons if not c.passed]

    def replay(self, *, spec: str | None = None, implementation: str | None = None) -> str:
        """One command that re-runs exactly this case; ``spec`` and ``implementation`` name them otherwise
        (a kernel by ``FILE.py:NAME`` relative to where the command will run)."""
        flag = "--kernel" if self.kind == "kernel" else "--framework"
        parts = ["lstmspec", "check", spec or self.spec_arg or self.spec, flag, implementation or self.implementation,
                 "--device", self.device, "--dtype", self.precision, "--seed", str(self.run_seed),
                 "--case", self.case.key]
        return " ".join(shlex.quote(p) for p in parts)

    def summary_line(self) -> str:
        head = f"{self.status.upper():5} {self.spec} | {self.implementation} | {self.device} {self.precision} | {self.case.describe()}"
        if self.status == FAIL:
            lines = [c.describe() for c in self.failures] + ([self.reason] if self.reason else []) \
                + ([self.gates] if self.gates else [])
            return head + "\n" + "\n".join("      " + line for line in lines)
        if self.status in (SKIP, ERROR):
            return head + f"\n      {self.reason}"
        return head

    def printed(self, lines: int = 3, width: int = 160) -> str:
        """The last lines an isolated kernel printed in this case, indented for a report ("" if none)."""
        every = self.output.strip().splitlines()
        if not every:
            return ""
        shown = every[-lines:]
        more = f" (last {len(shown)} of {len(every)} lines; all in --json)" if len(every) > len(shown) else ""
        return f"      the kernel printed{more}:" + "".join(f"\n        | {line[:width]}" for line in shown)

    def to_json(self) -> dict[str, Any]:
        return {
            "spec": self.spec,
            "implementation": self.implementation,
            "kind": self.kind,
            "device": self.device,
            "precision": self.precision,
            "math_mode": self.math_mode,
            "case": self.case.key,
            "label": self.case.label,
            "seed": self.run_seed,
            "case_seed": self.case.seed(self.run_seed),
            "status": self.status,
            "reason": self.reason,
            "seconds": round(self.seconds, 6),
            "convention": self.convention,
            "diagnosis": self.diagnosis,
            "gates": self.gates,
            "output": self.output,
            "traceback": self.traceback,
            "replay": self.replay(),
            "comparisons": [
                {"quantity": c.quantity, "kind": c.kind, "passed": c.passed, "error": c.error, "max_abs": c.max_abs,
                 "bound": c.bound, "yardstick": c.yardstick, "first_step": c.first_step, "message": c.message,
                 "worst_index": list(c.worst_index) if c.worst_index is not None else None}
                for c in self.comparisons
            ],
        }
