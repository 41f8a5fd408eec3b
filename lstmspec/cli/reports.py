"""What ``lstmspec check`` writes besides its progress: the report paths checked first, the facts of the run
(versions, devices), results streamed as JSON lines while it runs, and the reports at the end."""
from __future__ import annotations

import argparse
import platform
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ..check.results import CaseResult
from ..machine import cpu_name
from ..reference.backends import get_backend


def check_outputs(args: argparse.Namespace) -> None:
    """Report paths checked before anything runs: a run of many minutes must not end in a bad path."""
    from ..outputs import check_dir_target, check_distinct, check_file_target

    if args.json:
        check_file_target(args.json, "--json")
    if args.junit:
        check_file_target(args.junit, "--junit")
    if args.report:
        check_dir_target(args.report, "--report")
    check_distinct([("--json", args.json), ("--junit", args.junit)])


def versions() -> dict[str, str]:
    import numpy

    from .. import __version__

    out = {"lstmspec": __version__, "python": platform.python_version(), "numpy": numpy.__version__}
    for name in ("torch", "tensorflow", "keras", "onnxruntime"):
        module = sys.modules.get(name)
        if module is not None:
            out[name] = str(getattr(module, "__version__", "?"))
    out["reference math"] = get_backend("numpy").math.summary()  # tanh/sigmoid/GEMMs of the oracle's large arrays
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        out["cuda"] = str(torch.version.cuda)
        out["cudnn"] = str(torch.backends.cudnn.version())
    return out


def device_names(devices: Sequence[str]) -> dict[str, str]:
    names = {}
    for d in devices:
        if d == "cpu":
            names[d] = cpu_name()
        elif d == "cuda":
            import torch

            names[d] = torch.cuda.get_device_name(0)
    return names


class Stream:
    """Results appended as JSON lines while the run goes, so a killed run keeps what it finished.

    Only beside a regular ``--json`` file (not ``/dev/full.partial.jsonl``); a stream that cannot be
    written stops quietly, since the report written at the end is the one that counts.
    """

    def __init__(self, path: Path) -> None:
        import json

        self.path, self.json = path, json
        self.file: Any = path.open("w", encoding="utf-8")

    @classmethod
    def beside(cls, target: str | None) -> Stream | None:
        from ..outputs import is_regular_target

        if not target or not is_regular_target(target):
            return None
        try:
            return cls(Path(target + ".partial.jsonl"))
        except OSError:  # e.g. a name at the length limit: no stream, the report itself is unaffected
            return None

    def write(self, result: CaseResult) -> None:
        from ..report.json_report import jsonable

        if self.file is None:
            return
        try:
            self.file.write(self.json.dumps(jsonable(result.to_json())) + "\n")
            self.file.flush()
        except OSError:  # a full disk: the final report will say so
            self.close(remove=True)

    def close(self, remove: bool) -> None:
        if self.file is not None:
            try:
                self.file.close()
            except OSError:
                pass
            self.file = None
        if remove:
            self.path.unlink(missing_ok=True)


def write_reports(results: list[CaseResult], meta: dict[str, Any], args: argparse.Namespace) -> None:
    """The terminal report, then each requested file; one that cannot be written does not stop the others.

    The first failure is raised at the end (one line, exit 2), after every other report is written.
    """
    from ..outputs import OutputError, atomic_write, write_stdout
    from ..report.terminal import render_terminal

    failures: list[Exception] = []
    try:
        write_stdout(render_terminal(results, meta, every=getattr(args, "verbose", False)))
    except OSError as exc:  # a closed pipe or a full disk: the files are still written
        failures.append(exc)
    written: list[str] = []

    def attempt(write: Callable[[], Any]) -> None:
        try:
            write()
        except OutputError as exc:
            failures.append(exc)

    if args.json:
        from ..report.json_report import write_json

        attempt(lambda: written.append(str(write_json(Path(args.json), results, meta))))
    if args.junit:
        from ..report.junit import to_junit

        attempt(lambda: written.append(str(atomic_write(args.junit, to_junit(results, meta)))))
    if args.report:
        from ..report.markdown import write_report

        attempt(lambda: written.extend(str(p) for p in write_report(results, meta, Path(args.report))))
    for path in written:
        print(f"wrote {path}", file=sys.stderr)
    if failures:
        raise failures[0]



__all__ = ["Stream", "check_outputs", "device_names", "versions", "write_reports"]
