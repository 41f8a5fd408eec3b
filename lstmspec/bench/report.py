"""Bench reports: terminal table, Markdown (+ PNG plots), self-contained HTML, JSON.

The Markdown and HTML pages are rendered from one list of blocks, so they
say the same thing: a header with the command that regenerates the page and
everything the figures depend on (versions, device, threads, math settings,
date, seed, machine load, peaks); an at-a-glance table per spec (median
forward time of each implementation per case, the fastest conforming one in
bold); the FLOP formulas derived from the spec; detail tables per group
(standard, DeepBench with both FLOP conventions, each sweep next to its
plot); fraction of peak and roofline plots; what was not timed and why; what
did not conform.
"""
from __future__ import annotations

import base64
import html
import json
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..outputs import atomic_write
from .plots import Plot
from .runner import FORWARD, FORWARD_BACKWARD, REFERENCE, BenchRow

SCHEMA = "lstmspec-bench"
VERSION = 1  # bumped when a field is removed or changes meaning (lstmspec/schemas/bench.json)


# ------------------------------------------------------------------ formatting
def fmt_time(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def fmt_rate(flops: float | None) -> str:
    if not flops:
        return "-"
    if flops >= 1e12:
        return f"{flops / 1e12:.3g} TFLOP/s"
    return f"{flops / 1e9:.3g} GFLOP/s"


def fmt_bandwidth(bps: float | None) -> str:
    return f"{bps / 1e9:.3g} GB/s" if bps else "-"


def fmt_pct(fraction: float | None) -> str:
    return f"{100 * fraction:.3g}%" if fraction is not None else "-"


def fmt_count(n: int | None) -> str:
    if n is None:
        return "-"
    for unit, scale in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= scale:
            return f"{n / scale:.3g} {unit}"
    return str(n)


def conformance_mark(row: BenchRow) -> str:
    return {"pass": "yes", "fail": "**NO**", "error": "error", REFERENCE: "reference"}.get(row.conformance, "-")


# ---------------------------------------------------------------------- blocks
@dataclass
class Heading:
    level: int
    text: str


@dataclass
class Para:
    text: str  # inline Markdown: `code`, **bold**, [text](url)


@dataclass
class Code:
    text: str


@dataclass
class Bullets:
    items: list[str]


@dataclass
class Table:
    headers: list[str]
    rows: list[list[str]]
    align: list[str] = field(default_factory=list)  # "l" | "r" per column


@dataclass
class Image:
    plot: Plot


Block = Heading | Para | Code | Bullets | Table | Image


def build_document(rows: list[BenchRow], meta: dict[str, Any], plots: list[Plot]) -> list[Block]:
    blocks: list[Block] = []
    device = meta.get("device", "cpu")
    blocks.append(Heading(1, f"lstmspec bench: {meta.get('device_name', device)} ({device})"))
    blocks.append(Para("Regenerate this page (and its plots) from the repository root with:"))
    blocks.append(Code(meta.get("command", "lstmspec bench")))
    timed = [r for r in rows if r.timed]
    blocks.append(Para(
        f"{len(timed)} timed rows over {len({(r.spec, r.case_key) for r in rows})} cases, suite "
        f"`{meta.get('suite', '?')}`, seed {meta.get('seed', 0)}, {meta.get('date', '')}, "
        f"{meta.get('duration_s', 0):.0f} s in all."
        + (" **Interrupted**: only the rows that finished are here." if meta.get("interrupted") else "")))
    blocks += _environment(meta)
    blocks += _glance(rows)
    blocks += _formulas(meta)
    plots_by_name = {p.name: p for p in plots}
    used: set[str] = set()
    for spec in dict.fromkeys(r.spec for r in rows):
        spec_rows = [r for r in rows if r.spec == spec]
        for group, title in (("tiny", "Tiny cases"), ("standard", "Standard case"),
                             ("deepbench", "DeepBench LSTM rows")):
            group_rows = [r for r in spec_rows if r.case.group == group and r.timed]
            if group_rows:
                blocks.append(Heading(2, f"{spec}: {title}"))
                if group == "deepbench":
                    blocks += _deepbench(group_rows)
                else:
                    blocks.append(_detail_table(group_rows))
        for sweep in ("time", "hidden", "batch", "image"):
            sweep_rows = [r for r in spec_rows if r.case.sweep == sweep and r.timed]
            if not sweep_rows:
                continue
            blocks.append(Heading(2, f"{spec}: sweep over {sweep}"))
            plot = plots_by_name.get(f"{spec}-sweep-{sweep}")
            if plot is not None:
                blocks.append(Image(plot))
                used.add(plot.name)
            if sweep == "time":
                blocks += _linearity(sweep_rows)
            blocks.append(_detail_table(sweep_rows))
    rest = [p for p in plots if p.name not in used]
    if rest:
        blocks.append(Heading(2, "Fraction of peak and roofline"))
        blocks += _peak_text(meta)
        blocks += [Image(p) for p in rest]
    blocks += _problems(rows)
    blocks += _method(meta)
    return blocks


def _environment(meta: dict[str, Any]) -> list[Block]:
    out: list[Block] = [Heading(2, "Environment")]
    versions = meta.get("versions", {})
    rows = [[k, str(v)] for k, v in versions.items()]
    rows.append(["device", f"{meta.get('device_name', '')} ({meta.get('device', '')})"])
    for k, v in meta.get("threads", {}).items():
        rows.append([f"threads: {k}", str(v)])
    for k, v in meta.get("cuda_settings", {}).items():
        rows.append([k, str(v)])
    load = meta.get("foreign_load")
    if load:
        rows.append(["other processes' CPU share during the run", f"{100 * load['other_share']:.0f}% "
                     f"({load['other_cpu_s']} CPU-s over {load['wall_s']} s)"])
    speeds = meta.get("core_ns_per_exp")
    if speeds:
        rows.append(["ns per float64 exp on each core (pinned), before / after",
                     "; ".join(f"cpu{c} {speeds[0][c]} / {speeds[1].get(c, '-')}" for c in speeds[0])])
    if meta.get("load_average"):
        rows.append(["load average at the end (1, 5, 15 min)", ", ".join(map(str, meta["load_average"]))])
    timing = meta.get("timing", {})
    if timing:
        rows.append(["timing", ", ".join(f"{k}={v}" for k, v in timing.items())])
    out.append(Table(["what", "value"], rows, ["l", "l"]))
    load_share = (load or {}).get("other_share", 0.0)
    if load_share > 0.05:
        out.append(Para(f"**Note:** other processes used {100 * load_share:.0f}% of the machine while this ran; "
                        "figures are slower and noisier than on an idle machine (compare IQRs)."))
    slowed = environment_slowed(speeds)
    if slowed:
        out.append(Para(f"**Note:** {slowed}; figures are slower and noisier than on a quiet machine."))
    for note in meta.get("notes", []):
        out.append(Para(f"Note: {note}"))
    return out


def environment_slowed(speeds: list[dict] | None) -> str:
    """A sentence when a core ran the exp probe much slower than the fastest probe of the run."""
    from .environment import SLOWED, slowed_cores

    slow = slowed_cores(speeds)
    return f"{', '.join(slow)} ran a float64 exp over {SLOWED:g}x slower than the fastest core at some point " \
           "(its host was busy)" if slow else ""


def _glance(rows: list[BenchRow]) -> list[Block]:
    """Per spec and pass: cases x implementations, median time, fastest conforming in bold."""
    out: list[Block] = [Heading(2, "At a glance")]
    out.append(Para("Median time per call; **bold**: the fastest conforming implementation of the case; "
                    "NC: timed but non-conforming. Rates and fractions of peak are in the tables further down."))
    for spec in dict.fromkeys(r.spec for r in rows):
        for pass_ in (FORWARD, FORWARD_BACKWARD):
            chosen = [r for r in rows if r.spec == spec and r.pass_ == pass_ and r.timed]
            if not chosen:
                continue
            columns = list(dict.fromkeys(_column(r) for r in chosen))
            cases = list(dict.fromkeys((r.case_key, r.case.describe()) for r in chosen))
            table_rows = []
            wins: dict[str, int] = defaultdict(int)
            for key, label in cases:
                in_case = {_column(r): r for r in chosen if r.case_key == key}
                conforming = [r for r in in_case.values() if r.conforms]
                best = min(conforming, key=lambda r: r.seconds) if conforming else None
                if best is not None:
                    wins[_column(best)] += 1
                cells = []
                for col in columns:
                    r = in_case.get(col)
                    if r is None:
                        cells.append("")
                        continue
                    text = fmt_time(r.seconds)
                    if r is best:
                        text = f"**{text}**"
                    if not r.conforms:
                        text += " NC"
                    cells.append(text)
                table_rows.append([label] + cells)
            out.append(Heading(3, f"{spec}, {pass_}"))
            out.append(Table(["case"] + columns, table_rows, ["l"] + ["r"] * len(columns)))
            if wins:
                ranking = ", ".join(f"{name} {n}" for name, n in sorted(wins.items(), key=lambda kv: -kv[1]))
                out.append(Para(f"Fastest conforming, cases won: {ranking} (of {len(cases)})."))
    return out


def _column(row: BenchRow) -> str:
    if row.kind == REFERENCE and row.precision == "float64" and row.implementation.endswith("(numpy)"):
        return row.implementation
    return f"{row.implementation} {row.precision}"  # the dtype in every column header, one precision or several


def _formulas(meta: dict[str, Any]) -> list[Block]:
    formulas = meta.get("flops", {})
    if not formulas:
        return []
    out: list[Block] = [Heading(2, "FLOPs, counted from the spec's equations")]
    out.append(Para("Derived by `lstmspec.flops` from each spec's parsed equations (matmuls and convolutions by "
                    "their symbolic shapes, 2 FLOPs per multiply-add; elementwise ops and activations 1 per "
                    "element, counted apart), times the number of steps. GFLOP/s in the tables use the "
                    "*textbook* convention (every matmul/conv); DeepBench's convention counts only the "
                    "recurrent ones. A forward+backward pass counts 3x the forward contractions."))
    rows = []
    for spec, by_convention in formulas.items():
        for convention, formula in by_convention.items():
            rows.append([spec, convention, f"`{formula}`"])
    out.append(Table(["spec", "convention", "FLOPs per forward pass"], rows, ["l", "l", "l"]))
    return out


def _detail_headers() -> tuple[list[str], list[str]]:
    headers = ["case", "implementation", "dtype", "pass", "conforms", "median", "IQR", "runs", "GFLOP/s",
               "GB/s", "% peak", "% roofline"]
    return headers, ["l", "l", "l", "l", "l", "r", "r", "r", "r", "r", "r", "r"]


def _detail_table(rows: Sequence[BenchRow]) -> Table:
    headers, align = _detail_headers()
    out = []
    for r in rows:
        m = r.measurement
        out.append([r.case.describe(), r.implementation, r.precision, r.pass_, conformance_mark(r),
                    fmt_time(m.median), fmt_time(m.iqr) + ("" if m.stable else " (unstable)"), str(m.runs),
                    _gflops(r.rate()), _gbps(r.bandwidth), fmt_pct(r.peak_fraction), fmt_pct(r.roofline_fraction)])
    return Table(headers, out, align)


def _gflops(rate: float | None) -> str:
    return f"{rate / 1e9:.3g}" if rate else "-"


def _gbps(rate: float | None) -> str:
    return f"{rate / 1e9:.3g}" if rate else "-"


def _deepbench(rows: Sequence[BenchRow]) -> list[Block]:
    out: list[Block] = [Para(
        "Modelled on Baidu DeepBench's recurrent training problems: (hidden H, batch B, steps T), input D = H. "
        "Two FLOP conventions, labelled: *textbook* 8·B·T·H·(D+H) (every matmul; the other tables' convention) "
        "and *DeepBench* 8·H²·B·T (recurrent matmuls only, how DeepBench reports its rates). With D = H the "
        "textbook rate is twice the DeepBench one.")]
    headers = ["H", "B", "T", "implementation", "dtype", "pass", "conforms", "median", "IQR", "runs",
               "GFLOP/s textbook", "GFLOP/s DeepBench", "% peak"]
    table = []
    for r in rows:
        dims = dict(r.case.dims)
        m = r.measurement
        hidden = next((v for k, v in dims.items() if k in ("units", "filters")), "")
        table.append([str(hidden), str(dims.get("batch", "")), str(dims.get("time", "")), r.implementation,
                      r.precision, r.pass_, conformance_mark(r), fmt_time(m.median), fmt_time(m.iqr), str(m.runs),
                      _gflops(r.rate("contraction")), _gflops(r.rate("deepbench")), fmt_pct(r.peak_fraction)])
    out.append(Table(headers, table, ["r", "r", "r", "l", "l", "l", "l", "r", "r", "r", "r", "r", "r"]))
    return out


def linear_fit(xs: Sequence[float], ys: Sequence[float]) -> tuple[float, float, float]:
    """(slope, intercept, R²) of a least-squares line."""
    import numpy as np

    x, y = np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)
    slope, intercept = np.polyfit(x, y, 1)
    residual = float(np.sum((y - (slope * x + intercept)) ** 2))
    total = float(np.sum((y - y.mean()) ** 2))
    return float(slope), float(intercept), 1.0 - residual / total if total > 0 else 1.0


def _linearity(rows: Sequence[BenchRow]) -> list[Block]:
    series: dict[tuple, list[BenchRow]] = defaultdict(list)
    for r in rows:
        series[(r.implementation, r.precision, r.pass_)].append(r)
    table = []
    for (impl, precision, pass_), group in series.items():
        if len(group) < 3:
            continue
        group.sort(key=lambda r: r.case.x)
        slope, intercept, r2 = linear_fit([r.case.x for r in group], [r.seconds for r in group])
        table.append([impl, precision, pass_, fmt_time(slope), fmt_time(intercept) if intercept >= 0 else
                      "-" + fmt_time(-intercept), f"{r2:.4f}"])
    if not table:
        return []
    return [Para("Time against steps should be a straight line: a least-squares fit per implementation "
                 "(R² near 1: linear; the intercept is the per-call overhead)."),
            Table(["implementation", "dtype", "pass", "time per step", "intercept", "R²"], table,
                  ["l", "l", "l", "r", "r", "r"])]


def _peak_text(meta: dict[str, Any]) -> list[Block]:
    peak = meta.get("peak")
    if not peak:
        return [Para("No peak known for this device (`--no-peak`), so no fractions of peak.")]
    rates = ", ".join(f"{k} {fmt_rate(v)}" for k, v in peak.get("flops", {}).items())
    return [Para(f"Peak FLOP/s: {rates}; bandwidth {fmt_bandwidth(peak.get('bandwidth'))} ({peak.get('source')}). "
                 "*% peak* is achieved over peak FLOP/s for the row's dtype; *% roofline* is achieved over "
                 "min(peak, intensity x bandwidth), intensity being the FLOPs per compulsory byte (inputs, "
                 "parameters, states and outputs moved once). A measured peak is taken on the same machine "
                 "(before and after the run, the higher kept); above 100% means a row ran in a quieter moment "
                 "than either peak measurement.")]


def _problems(rows: list[BenchRow]) -> list[Block]:
    out: list[Block] = []
    bad = [r for r in rows if r.timed and not r.conforms]
    if bad:
        out.append(Heading(2, "Non-conforming (timed, but wrong)"))
        out.append(Bullets(list(dict.fromkeys(
            f"{r.spec} {r.case.describe()}: {r.implementation} {r.precision}: {r.conformance_detail}" for r in bad))))
    skipped: dict[tuple[str, str], list[str]] = defaultdict(list)
    for r in rows:
        if not r.timed:
            skipped[(r.implementation, f"{r.status}: {r.reason}")].append(f"{r.spec} {r.case.describe()} "
                                                                           f"{r.precision} {r.pass_}")
    if skipped:
        out.append(Heading(2, "Not timed"))
        items = []
        for (impl, why), where in skipped.items():
            items.append(f"{impl}: {why} ({len(where)} row{'s' if len(where) != 1 else ''})")
        out.append(Bullets(items))
    return out


def _method(meta: dict[str, Any]) -> list[Block]:
    return [Heading(2, "Method"), Para(
        "Each implementation is built once per case (layer, ONNX session, tf.function trace, inputs on the "
        "device, parameters loaded through the spec's layouts); only its call is timed. Before timing, the "
        "case goes through the same conformance check as `lstmspec check` (and the output of the timed call "
        "is compared with the float64 reference); an implementation that does not conform is timed but marked. "
        "Timing: warm-up calls, then blocks of calls (sized so the clock's cost is under 1e-4 of a block) "
        "with the garbage collector off, until the interquartile range is below the threshold times the "
        "median or the time budget is spent (then IQR is marked unstable). Reported: the median of the "
        "per-call times of the blocks, their IQR and the number of runs. On CUDA, blocks are timed with CUDA "
        "events after a synchronize, never with the host clock; `--flush-l2` writes a buffer twice the L2 "
        "size before each call, outside the timed region.")]


# -------------------------------------------------------------------- renderers
_INLINE = [
    (re.compile(r"\*\*([^*]+)\*\*"), r"<strong>\1</strong>"),
    (re.compile(r"\*([^*\s][^*]*)\*"), r"<em>\1</em>"),
    (re.compile(r"\[([^\]]+)\]\(([^)]+)\)"), r'<a href="\2">\1</a>'),
]


def _inline_html(text: str) -> str:
    """The few inline Markdown forms the report writes; nothing inside `code` is touched (formulas have *)."""
    pieces = re.split(r"(`[^`]+`)", text)
    out = []
    for piece in pieces:
        if piece.startswith("`") and piece.endswith("`") and len(piece) > 1:
            out.append(f"<code>{html.escape(piece[1:-1], quote=False)}</code>")
            continue
        piece = html.escape(piece, quote=False)
        for pattern, repl in _INLINE:
            piece = pattern.sub(repl, piece)
        out.append(piece)
    return "".join(out)


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|")


def to_markdown(blocks: list[Block], image_dir: str) -> str:
    lines: list[str] = []
    for b in blocks:
        if isinstance(b, Heading):
            lines += ["#" * b.level + " " + b.text, ""]
        elif isinstance(b, Para):
            lines += [b.text, ""]
        elif isinstance(b, Code):
            lines += ["```", b.text, "```", ""]
        elif isinstance(b, Bullets):
            lines += [f"- {item}" for item in b.items] + [""]
        elif isinstance(b, Table):
            align = b.align or ["l"] * len(b.headers)
            lines.append("| " + " | ".join(map(_md_cell, b.headers)) + " |")
            lines.append("|" + "|".join("---:" if a == "r" else "---" for a in align) + "|")
            lines += ["| " + " | ".join(map(_md_cell, row)) + " |" for row in b.rows]
            lines.append("")
        elif isinstance(b, Image):
            svg = f" ([SVG]({image_dir}/{b.plot.name}.svg))" if b.plot.svg else ""
            lines += [f"![{b.plot.title}]({image_dir}/{b.plot.name}.png)", "", f"*{b.plot.caption}*{svg}", ""]
    return "\n".join(lines).rstrip() + "\n"


_CSS = """
body { font-family: -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif; margin: 2em auto; max-width: 1200px;
       padding: 0 1em; color: #222; line-height: 1.45; }
table { border-collapse: collapse; margin: 0.8em 0 1.4em; font-size: 0.88em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; }
th { background: #f3f3f3; }
td.r { text-align: right; font-variant-numeric: tabular-nums; }
pre { background: #f6f8fa; padding: 0.8em; overflow-x: auto; }
code { background: #f3f3f3; padding: 0 0.2em; }
img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: 0.85em; color: #555; margin-bottom: 1.5em; }
"""


def to_html(blocks: list[Block]) -> str:
    """One file, no external resources: plots are base64 PNG data URIs."""
    title = next((b.text for b in blocks if isinstance(b, Heading)), "lstmspec bench")
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             f"<title>{html.escape(title)}</title>", f"<style>{_CSS}</style></head><body>"]
    for b in blocks:
        if isinstance(b, Heading):
            parts.append(f"<h{b.level}>{_inline_html(b.text)}</h{b.level}>")
        elif isinstance(b, Para):
            parts.append(f"<p>{_inline_html(b.text)}</p>")
        elif isinstance(b, Code):
            parts.append(f"<pre><code>{html.escape(b.text)}</code></pre>")
        elif isinstance(b, Bullets):
            parts.append("<ul>" + "".join(f"<li>{_inline_html(i)}</li>" for i in b.items) + "</ul>")
        elif isinstance(b, Table):
            align = b.align or ["l"] * len(b.headers)
            head = "".join(f"<th>{_inline_html(h)}</th>" for h in b.headers)
            body = "".join("<tr>" + "".join(f'<td class="{a}">{_inline_html(c)}</td>' for c, a in zip(row, align))
                           + "</tr>" for row in b.rows)
            parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
        elif isinstance(b, Image):
            data = base64.b64encode(b.plot.png).decode("ascii")
            parts.append(f'<figure><img alt="{html.escape(b.plot.title)}" src="data:image/png;base64,{data}">'
                         f"<figcaption>{_inline_html(b.plot.caption)}</figcaption></figure>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


FOREIGN_LOAD_NOTE = 0.2  # other processes' share of the CPUs above which the terminal warns


def render_terminal(rows: list[BenchRow], meta: dict[str, Any] | None = None) -> str:
    """A compact table for the terminal: timed rows, one line per problem. Where other processes used more than
    a fifth of the CPUs, the terminal says so beside each row it affected (``BenchRow.foreign_share``), or once
    for the run when only the run's share is known (``meta["foreign_load"]``): those times may be inflated."""
    from tabulate import tabulate

    table = []
    for r in rows:
        if not r.timed:
            continue
        m = r.measurement
        loaded = r.foreign_share is not None and r.foreign_share > FOREIGN_LOAD_NOTE
        table.append([r.spec, r.case.describe(), r.implementation, r.precision, r.pass_, conformance_mark(r).strip("*"),
                      fmt_time(m.median), fmt_time(m.iqr) + ("" if m.stable else "*"), m.runs, fmt_rate(r.rate()),
                      fmt_pct(r.peak_fraction), f"{100 * r.foreign_share:.0f}% !" if loaded else ""])
    out = ""
    if table:
        marked = any(row[-1] for row in table)
        headers = ["spec", "case", "implementation", "dtype", "pass", "conforms", "median", "IQR", "runs", "rate",
                   "% peak"] + (["other load"] if marked else [])
        table = [row if marked else row[:-1] for row in table]
        out = tabulate(table, headers=headers, tablefmt="simple", disable_numparse=True) + "\n"
        if marked:
            out += (f"! other processes used more than {100 * FOREIGN_LOAD_NOTE:.0f}% of the CPUs while this row "
                    "ran: its time may be inflated (--threads 1 or a quiet machine gives steadier figures)\n")
        if any(not r.measurement.stable for r in rows if r.timed):
            out += "* IQR/median above the threshold when the time budget ran out\n"
    problems: dict[str, None] = {}
    for r in rows:
        where = f"{r.spec} | {r.case.describe()} | {r.implementation} {r.precision}"
        if r.timed and not r.conforms:
            problems[f"NON-CONFORMING {where}: {r.conformance_detail}"] = None
        elif r.status == "error":
            problems[f"ERROR {where}: {r.reason}"] = None
    load = (meta or {}).get("foreign_load") or {}
    per_row = any(r.foreign_share is not None for r in rows if r.timed)
    if table and not per_row and load.get("other_share", 0) > FOREIGN_LOAD_NOTE:
        problems[(f"note: other processes used {100 * load['other_share']:.0f}% of the CPUs during these "
                  f"{len(table)} timings ({load['other_cpu_s']} CPU-s over {load['wall_s']} s), so they may be "
                  "slower than on a quiet machine; --threads 1 or a quiet machine gives steadier figures")] = None
    return out + "".join(f"{line}\n" for line in problems)


# ----------------------------------------------------------------------- files
def to_json(rows: list[BenchRow], meta: dict[str, Any]) -> dict[str, Any]:
    return {"schema": SCHEMA, "version": VERSION, "meta": meta, "rows": [r.to_json() for r in rows]}


def write_json(path: Path, rows: list[BenchRow], meta: dict[str, Any]) -> Path:
    return atomic_write(path, json.dumps(to_json(rows, meta), indent=1, default=str) + "\n")


def write_report(directory: Path, rows: list[BenchRow], meta: dict[str, Any], plots: list[Plot]) -> list[Path]:
    """DIR/timing-<device>.md with its plots (PNG and SVG) in DIR/timing-<device>/, and DIR/timing-<device>.html."""
    device = meta.get("device", "cpu")
    stem = f"timing-{device}"
    blocks = build_document(rows, meta, plots)
    written = [atomic_write(directory / stem / f"{plot.name}.png", plot.png) for plot in plots]
    written += [atomic_write(directory / stem / f"{plot.name}.svg", plot.svg) for plot in plots if plot.svg]
    md = atomic_write(directory / f"{stem}.md", to_markdown(blocks, stem))
    page = atomic_write(directory / f"{stem}.html", to_html(blocks))
    return [md, page] + written


__all__ = ["SCHEMA", "VERSION", "build_document", "to_markdown", "to_html", "render_terminal", "to_json", "write_json",
           "write_report", "linear_fit", "fmt_time", "fmt_rate"]
