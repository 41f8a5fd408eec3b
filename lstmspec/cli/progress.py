"""The progress of ``lstmspec check`` on stderr: one line per implementation group, and one line per failure
as it comes (its case and cause); the report on stdout tells each failure in full, once."""
from __future__ import annotations

import sys
import time

from ..check.results import ERROR, FAIL, PASS, SKIP, CaseResult
from ..report.failure import case_line, headline

LINE_CHARS = 240  # a failure's progress line; the report on stdout has the whole of it


def one_line(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= LINE_CHARS else text[: LINE_CHARS - 3] + "..."

Group = tuple[int, int, int, int, bool]  # plan, target, device, precision, fuzz


class Progress:
    """One line per implementation group on stderr, when the group is complete; a live counter on a terminal.

    Results may arrive interleaved (``--jobs``), so a group is reported when
    all its cases are in, with the seconds its cases took. Interleaved groups
    all end near the end of the run, so where there is no live counter (a CI
    log) a line with the count so far comes every ``HEARTBEAT_S`` seconds.
    """

    HEARTBEAT_S = 10.0

    def __init__(self, quiet: bool, total: int) -> None:
        self.quiet, self.total, self.done = quiet, total, 0
        self.tty = sys.stderr.isatty()
        self.start = self.last_line = time.perf_counter()
        self.bad = 0
        self.expected: dict[Group, int] = {}
        self.counts: dict[Group, dict[str, float]] = {}
        self.labels: dict[Group, str] = {}

    def expect(self, group: Group, count: int) -> None:
        self.expected[group] = self.expected.get(group, 0) + count

    def __call__(self, group: Group, result: CaseResult) -> None:
        self.done += 1
        counts = self.counts.setdefault(group, {PASS: 0, FAIL: 0, ERROR: 0, SKIP: 0, "n/a": 0, "n": 0, "s": 0.0})
        self.labels[group] = " | ".join((result.spec, result.implementation, result.device, result.precision))
        if group[4]:
            self.labels[group] += " | fuzz"
        counts["n/a" if result.not_applicable else result.status] += 1
        counts["n"] += 1
        counts["s"] += result.seconds
        if result.status in (FAIL, ERROR):
            self.bad += 1
            if not self.quiet:
                self._clear()
                print(one_line(f"{case_line(result)}: {headline(result)}"), file=sys.stderr)
        if counts["n"] >= self.expected.get(group, 0):
            self._line(group)
        elif self.tty and not self.quiet:
            print(f"\r[{self.done}/{self.total}] {self.labels[group]} ...", end="", file=sys.stderr, flush=True)
        elif not self.quiet and time.perf_counter() - self.last_line >= self.HEARTBEAT_S:
            now = time.perf_counter()
            print(f"[{self.done}/{self.total}] {now - self.start:.0f} s, {self.bad} failed so far", file=sys.stderr)
            self.last_line = now

    def _clear(self) -> None:
        if self.tty:
            print("\r\033[K", end="", file=sys.stderr)

    def _line(self, group: Group) -> None:
        c = self.counts.pop(group)
        if self.quiet or c["n"] == c["n/a"]:  # nothing of the group applies: the report says why, once
            return
        self._clear()
        gaps = f", {c['n/a']} not applicable" if c["n/a"] else ""
        print(f"[{self.done}/{self.total}] {self.labels[group]}: {c[PASS]} passed, {c[FAIL] + c[ERROR]} failed, "
              f"{c[SKIP]} skipped{gaps} ({c['s']:.1f} s)", file=sys.stderr)
        self.last_line = time.perf_counter()

    def flush(self) -> None:
        """Report groups that did not complete (an interrupted run)."""
        for group in sorted(self.counts):
            self._line(group)


__all__ = ["Group", "Progress"]
