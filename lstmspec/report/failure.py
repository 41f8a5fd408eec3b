"""One failed case as text, the way ``torch.testing.assert_close`` reads: the cause first, then the evidence.

    matches lstm with gate order f,i,g,o (the spec's i, f parameters drive gates f, i): ...
    case: lstm | my_lstm | cpu float64 | one timestep (batch=3,time=1,input=4,units=6)
      y: error 0.0745 (max abs 0.0745) > bound 1e-12 (yardstick 4.16e-17), first over the bound at step 0, ...
      h_T: ...
      c_T: ...
      15 more quantities over the bound
    worst element: c_T at index (1, 3)
    replay: lstmspec check lstm --kernel test_my_lstm.py:my_lstm --device cpu --dtype float64 --seed 0 --case ...

The first line is what one-line views show (pytest's ``-rf`` summary, a
JUnit ``message`` attribute, CI pages): the diagnosis when one matched,
else the worst quantity with its error and bound. pytest, the ``check``
command and the JUnit writer all use :func:`failure_report`.
"""
from __future__ import annotations

import inspect
import os
import sys
from pathlib import Path
from typing import Any

from ..check.results import ERROR, CaseResult, Comparison

QUANTITIES = 3  # quantities shown per failed case unless every one is asked for
MESSAGE_CHARS = 200  # JUnit's message attribute: what a CI page shows before the body


def _ratio(c: Comparison) -> float:
    if c.kind == "shape":
        return float("inf")
    return c.error / c.bound if c.bound else float("inf")


def worst_first(result: CaseResult) -> list[Comparison]:
    """The failed quantities, the farthest over its bound first (shape mismatches before any value)."""
    return sorted(result.failures, key=_ratio, reverse=True)


def headline(result: CaseResult) -> str:
    """One line: the diagnosis, else the worst quantity with its error and bound, else what went wrong."""
    if result.diagnosis:
        return f"diagnosis: {result.diagnosis}"
    failed = worst_first(result)
    if failed:
        c = failed[0]
        if c.kind == "shape" or c.error == float("inf"):
            line = c.describe()
        else:
            at = f" at index {c.worst_index}" if c.worst_index is not None else ""
            line = f"{c.quantity}: error {c.error:.3g} > bound {c.bound:.3g}{at}"
        more = len(failed) - 1
        return line + (f" (and {more} more quantit{'y' if more == 1 else 'ies'} over the bound)" if more else "")
    reason = (result.reason or ("error" if result.status == ERROR else "failed")).strip()
    return reason.splitlines()[0] if reason else "failed"


def short_message(result: CaseResult, limit: int = MESSAGE_CHARS) -> str:
    """The headline cut to ``limit`` characters (an ellipsis marks the cut)."""
    line = headline(result)
    return line if len(line) <= limit else line[: limit - 3].rstrip() + "..."


def case_line(result: CaseResult) -> str:
    """``FAIL  lstm | torch.nn.LSTM | cpu float32 | one timestep``: which case, as the terminal report heads it."""
    return (f"{result.status.upper():5} {result.spec} | {result.implementation} | {result.device} {result.precision}"
            f" | {result.case.describe()}")


def failure_report(result: CaseResult, *, replay: str | None = None, every: bool = False,
                   quantities: int = QUANTITIES, indent: str = "", case: bool = True) -> str:
    """The whole failure: headline, case, the worst quantities, the worst element, notes and the replay command.

    ``replay`` replaces ``result.replay()`` (pytest names the kernel by its file); ``every`` lists every
    failed quantity instead of the ``quantities`` worst; ``case=False`` leaves out the case line (the
    terminal report heads each failure with :func:`case_line`).
    """
    lines = [headline(result)]
    if case:
        lines.append(f"case: {result.spec} | {result.implementation} | {result.device} {result.precision} | "
                     f"{result.case.describe()} ({result.case.key})")
    failed = worst_first(result)
    shown = failed if every else failed[:quantities]
    lines += [f"  {c.describe()}" for c in shown]
    if len(failed) > len(shown):
        lines.append(f"  {len(failed) - len(shown)} more over the bound: "
                     + ", ".join(c.quantity for c in failed[len(shown):]))
    worst = next((c for c in failed if c.worst_index is not None), None)
    if worst is not None:
        lines.append(f"worst element: {worst.quantity} at index {worst.worst_index} "
                     f"(error {worst.error:.3g}, bound {worst.bound:.3g})")
    notes = result.reason.strip().splitlines() if result.reason else []
    if not result.diagnosis and not failed:
        notes = notes[1:]  # its first line is the headline
    lines += notes
    if result.gates:
        lines.append(result.gates)
    if result.output:
        lines.append(result.printed().strip())
    lines.append(f"replay: {replay or result.replay()}")
    return "\n".join(indent + line for line in lines)


def kernel_reference(kernel: Any, start: str | Path | None = None) -> tuple[str | None, str]:
    """``FILE.py:NAME`` for a kernel that ``lstmspec check --kernel`` can load, relative to ``start``.

    Returns ``(reference, "")``, or ``(None, why not)`` for a kernel the command line cannot name:
    a closure, a lambda, a method, a kernel built at run time.
    """
    name = getattr(kernel, "__qualname__", None) or getattr(kernel, "__name__", None)
    if not name:
        return None, f"{type(kernel).__name__} objects have no name to load them by"
    if not name.isidentifier():
        return None, f"{name} is a closure, a lambda or a method, not a function at the top level of a module"
    module = sys.modules.get(getattr(kernel, "__module__", "") or "")
    if module is None or getattr(module, name, None) is not kernel:
        return None, f"{name} is not an attribute of its module"
    try:
        source = inspect.getsourcefile(kernel)
    except TypeError:
        source = None
    if not source or not source.endswith(".py"):
        return None, f"{name} has no Python source file"
    path = Path(source)
    if start is not None:
        try:
            path = Path(os.path.relpath(path, start))
        except ValueError:  # another drive on Windows
            pass
    return f"{path.as_posix()}:{name}", ""


def spec_reference(spec: Any, start: str | Path | None = None) -> str:
    """A shipped spec by name; any other by its path relative to ``start``."""
    from ..spec.catalog import specs_dir

    path = getattr(spec, "path", None)
    if not path:
        return spec.name
    path = Path(path).resolve()
    if path == (specs_dir() / f"{spec.name}.toml").resolve():
        return spec.name
    if start is not None:
        try:
            return Path(os.path.relpath(path, start)).as_posix()
        except ValueError:
            pass
    return str(path)


__all__ = ["failure_report", "case_line", "headline", "short_message", "worst_first", "kernel_reference", "spec_reference",
           "QUANTITIES", "MESSAGE_CHARS"]
