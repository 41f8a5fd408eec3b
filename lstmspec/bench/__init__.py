"""``lstmspec bench``: time implementations of a spec on the same inputs, after their conformance check.

    suites ─→ cases ─→ conformance (check_one) ─→ timed callables ─→ timing ─→ rows ─→ reports

- ``suites``: which configurations are timed (standard, DeepBench, sweeps), by dim roles.
- ``implementations``: references, framework layers and kernels, built once per case.
- ``timing``: warm-up and adaptive blocks (median, IQR, runs); CUDA events on GPUs.
- ``peaks``: peak FLOP/s and bandwidth, from a table of GPUs or measured.
- ``environment``: versions, device, threads, math settings, machine load.
- ``runner``: the loop, FLOPs (``lstmspec.flops``) and rates per row.
- ``plots``, ``report``: terminal, Markdown, HTML, JSON.
- the command line, ``lstmspec bench``, is :mod:`lstmspec.cli.bench`.

Python use::

    from lstmspec.bench.timing import measure
    m = measure(lambda: layer(x))
    print(m.median, m.iqr, m.runs)
"""
from __future__ import annotations

__all__: list[str] = []
