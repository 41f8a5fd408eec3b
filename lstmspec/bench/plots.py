"""Plots of a bench run (matplotlib, Agg): PNG bytes the Markdown and HTML reports embed.

- one per sweep and spec: time against sequence length, batch or image size
  (linear axes, so a linear scaling is a straight line), throughput against
  hidden size;
- the roofline: achieved FLOP/s against arithmetic intensity (FLOPs per
  compulsory byte), with the device's ceilings;
- fraction of peak per case and implementation.

Every series is one (implementation, precision, pass); a non-conforming
series is drawn dashed and labelled so. An implementation keeps one colour in
every figure of a run (:func:`colours`). Each plot is rendered as PNG (for
the HTML page) and SVG (scalable, written beside the PNG).
"""
from __future__ import annotations

import io
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from .runner import FORWARD, BenchRow

_UNITS = {"time": "steps", "batch": "batch", "hidden": "hidden size", "image": "image side (pixels)"}


@dataclass
class Plot:
    name: str  # file stem, e.g. "lstm-sweep-time"
    title: str
    caption: str
    png: bytes
    svg: bytes = b""


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def series_label(row: BenchRow, *, with_precision: bool) -> str:
    label = row.implementation
    if with_precision:
        label += f" {row.precision}"
    if row.pass_ != FORWARD:
        label += f" ({row.pass_})"
    if not row.conforms:
        label += " [non-conforming]"
    return label


def _series(rows: Iterable[BenchRow]) -> dict[tuple, list[BenchRow]]:
    out: dict[tuple, list[BenchRow]] = defaultdict(list)
    for r in rows:
        if r.timed:
            out[(r.implementation, r.precision, r.pass_)].append(r)
    for key in out:
        out[key].sort(key=lambda r: r.case.x)
    return dict(out)


def colours(rows: Iterable[BenchRow]) -> dict[str, str]:
    """implementation -> colour, the same in every figure drawn from ``rows`` (matplotlib's tab10, then tab20)."""
    names = sorted({r.implementation for r in rows if r.timed})
    if len(names) <= 10:
        return {name: f"C{i}" for i, name in enumerate(names)}
    from matplotlib import colormaps

    tab20 = colormaps["tab20"]
    return {name: tab20(i % 20) for i, name in enumerate(names)}


def _render(fig) -> tuple[bytes, bytes]:
    """(PNG, SVG) of a figure."""
    png, svg = io.BytesIO(), io.BytesIO()
    fig.savefig(png, format="png", dpi=110, bbox_inches="tight")
    fig.savefig(svg, format="svg", bbox_inches="tight")
    _pyplot().close(fig)
    return png.getvalue(), svg.getvalue()


def sweep_plot(rows: list[BenchRow], spec: str, sweep: str) -> Plot | None:
    chosen = [r for r in rows if r.spec == spec and r.case.sweep == sweep and r.timed]
    series = _series(chosen)
    if not series:
        return None
    plt = _pyplot()
    colour = colours(rows)
    many_precisions = len({r.precision for r in chosen}) > 1
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    throughput = sweep == "hidden"
    for key, group in sorted(series.items()):
        xs = [r.case.x for r in group]
        if throughput:
            ys = [(r.rate() or 0) / 1e9 for r in group]
            ax.plot(xs, ys, marker="o", linestyle="-" if group[0].conforms else "--", color=colour[key[0]],
                    label=series_label(group[0], with_precision=many_precisions))
        else:
            ys = [r.measurement.median * 1e3 for r in group]
            low = [max(0.0, y - r.measurement.q25 * 1e3) for y, r in zip(ys, group)]
            high = [r.measurement.q75 * 1e3 - y for y, r in zip(ys, group)]
            ax.errorbar(xs, ys, yerr=[low, high], marker="o", capsize=3, color=colour[key[0]],
                        linestyle="-" if group[0].conforms else "--",
                        label=series_label(group[0], with_precision=many_precisions))
    ax.set_xlabel(_UNITS.get(sweep, sweep))
    if throughput:
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_ylabel("GFLOP/s (matmul + conv, textbook count)")
        title = f"{spec}: throughput against hidden size"
        caption = "Achieved GFLOP/s (median time) against hidden size, input = hidden; log-log."
    else:
        ax.set_ylabel("time per call, ms (median, IQR bars)")
        ax.set_xlim(left=0)
        ax.set_ylim(bottom=0)
        title = f"{spec}: time against {_UNITS.get(sweep, sweep)}"
        caption = (f"Median time per forward call against {_UNITS.get(sweep, sweep)}, linear axes "
                   f"(a straight line through the origin is linear scaling); bars are the interquartile range.")
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    return Plot(f"{spec}-sweep-{sweep}", title, caption, *_render(fig))


def roofline_plot(rows: list[BenchRow], device: str) -> Plot | None:
    timed = [r for r in rows if r.timed and r.intensity and r.rate()]
    if not timed:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    many_precisions = len({r.precision for r in timed}) > 1
    colour = colours(rows)
    by_impl: dict[str, list[BenchRow]] = defaultdict(list)
    for r in timed:
        by_impl[series_label(r, with_precision=many_precisions)].append(r)
    markers = "os^vD<>PXh*"
    for i, (label, group) in enumerate(sorted(by_impl.items())):
        ax.scatter([r.intensity for r in group], [r.rate() / 1e9 for r in group], marker=markers[i % len(markers)],
                   label=label, alpha=0.8, color=colour[group[0].implementation])
    lo = min(r.intensity for r in timed) / 2
    hi = max(r.intensity for r in timed) * 2
    ceilings = {}
    for r in timed:
        if r.peak_flops:
            ceilings[r.precision] = (r.peak_flops, r.peak_bandwidth)
    for precision, (peak, bandwidth) in sorted(ceilings.items()):
        xs = [lo * (hi / lo) ** (k / 100) for k in range(101)]
        ys = [min(peak, x * bandwidth) / 1e9 if bandwidth else peak / 1e9 for x in xs]
        ax.plot(xs, ys, linestyle=":", color="gray")
        ax.annotate(f"peak {precision}: {peak / 1e9:.0f} GFLOP/s", (xs[-1], ys[-1]), fontsize=7,
                    ha="right", va="bottom", color="gray")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("arithmetic intensity, FLOP per compulsory byte")
    ax.set_ylabel("achieved GFLOP/s")
    title = f"Roofline ({device})"
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.25)
    ax.legend(fontsize=7, loc="lower right")
    caption = ("Every timed row: achieved GFLOP/s (textbook FLOPs, median time) against FLOPs per compulsory byte; "
               "dotted: min(peak, intensity x bandwidth) of the device per dtype.")
    return Plot(f"roofline-{device}", title, caption, *_render(fig))


def peak_fraction_plot(rows: list[BenchRow], device: str) -> Plot | None:
    """Fraction of peak per case (the standard and DeepBench cases), one bar per implementation."""
    chosen = [r for r in rows if r.timed and r.peak_fraction is not None and r.case.group in ("standard", "deepbench")
              and r.pass_ == FORWARD]
    if not chosen:
        return None
    plt = _pyplot()
    cases = list(dict.fromkeys(f"{r.spec} {r.case.describe()}" for r in chosen))
    many_precisions = len({r.precision for r in chosen}) > 1
    colour = colours(rows)
    implementation_of = {series_label(r, with_precision=many_precisions): r.implementation for r in chosen}
    impls = sorted(implementation_of)
    width = 0.8 / max(len(impls), 1)
    fig, ax = plt.subplots(figsize=(max(7.5, 0.9 * len(cases) + 3), 4.8))
    for i, impl in enumerate(impls):
        values = []
        for case in cases:
            match = [r for r in chosen if f"{r.spec} {r.case.describe()}" == case
                     and series_label(r, with_precision=many_precisions) == impl]
            values.append(100 * match[0].peak_fraction if match else 0.0)
        ax.bar([c + i * width - 0.4 + width / 2 for c in range(len(cases))], values, width, label=impl,
               color=colour[implementation_of[impl]])
    ax.set_xticks(range(len(cases)))
    ax.set_xticklabels(cases, rotation=30, ha="right", fontsize=7)
    ax.set_ylabel("% of peak FLOP/s (row's dtype)")
    title = f"Fraction of peak ({device})"
    ax.set_title(title)
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(fontsize=7)
    caption = "Achieved over peak FLOP/s for the row's dtype (forward pass, textbook FLOPs)."
    return Plot(f"peak-fraction-{device}", title, caption, *_render(fig))


def all_plots(rows: list[BenchRow], device: str) -> list[Plot]:
    """Every plot the rows allow, in report order; empty when matplotlib is not installed."""
    try:
        _pyplot()
    except ImportError:
        return []
    plots: list[Plot] = []
    for spec in dict.fromkeys(r.spec for r in rows):
        for sweep in ("time", "hidden", "batch", "image"):
            plot = sweep_plot(rows, spec, sweep)
            if plot is not None:
                plots.append(plot)
    for make in (peak_fraction_plot, roofline_plot):
        plot = make(rows, device)
        if plot is not None:
            plots.append(plot)
    return plots


__all__ = ["Plot", "all_plots", "colours", "sweep_plot", "roofline_plot", "peak_fraction_plot", "series_label"]
