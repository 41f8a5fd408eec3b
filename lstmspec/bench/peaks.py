"""Peak FLOP/s and memory bandwidth of a device: from a table of GPUs, or measured once.

A row's *fraction of peak* is its achieved FLOP/s over the device's peak for
the row's dtype; its *fraction of roofline* is achieved FLOP/s over
``min(peak, intensity x bandwidth)``, where the intensity is the row's FLOPs
over its compulsory bytes (``lstmspec.flops.bytes_moved``): how close an
implementation comes to what the hardware allows for that amount of data.

GPU peaks are the vendors' datasheet figures, dense (no 2:4 sparsity), boost
clock. A GPU not in the table, and every CPU, is *measured*: the best of a
few large ``torch.mm`` calls in the dtype (FLOP/s) and of a few copies of a
buffer far larger than the caches (bytes read + written per second). A
measured peak is what this machine reaches on a large matmul, not a
theoretical figure, so fractions near 1 are possible and honest.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

TERA, GIGA = 1e12, 1e9


@dataclass(frozen=True)
class GpuPeak:
    """Datasheet peaks of one GPU model, TFLOP/s dense and GB/s."""

    name: str
    match: tuple[str, ...]  # all must occur in torch.cuda.get_device_name()
    float64: float
    float32: float
    tf32: float | None
    float16: float | None
    bfloat16: float | None
    bandwidth_gbs: float
    unless: tuple[str, ...] = ()  # none may occur (H100 SXM vs PCIe)


#: More specific entries first; float64 is the FP64 tensor-core rate where the GPU has one.
GPU_PEAKS: tuple[GpuPeak, ...] = (
    GpuPeak("NVIDIA H200", ("H200",), 67.0, 67.0, 494.7, 989.4, 989.4, 4800),
    GpuPeak("NVIDIA H100 PCIe", ("H100", "PCIe"), 51.0, 51.0, 378.0, 756.0, 756.0, 2000),
    GpuPeak("NVIDIA H100 NVL", ("H100", "NVL"), 60.0, 60.0, 417.5, 835.0, 835.0, 3900),
    GpuPeak("NVIDIA H100 SXM", ("H100",), 67.0, 67.0, 494.7, 989.4, 989.4, 3350, unless=("PCIe", "NVL")),
    GpuPeak("NVIDIA A100 80GB PCIe", ("A100", "80GB", "PCIe"), 19.5, 19.5, 156.0, 312.0, 312.0, 1935),
    GpuPeak("NVIDIA A100 80GB SXM", ("A100", "80GB"), 19.5, 19.5, 156.0, 312.0, 312.0, 2039),
    GpuPeak("NVIDIA A100 40GB", ("A100",), 19.5, 19.5, 156.0, 312.0, 312.0, 1555),
    GpuPeak("NVIDIA L40S", ("L40S",), 1.4, 91.6, 183.0, 362.0, 362.0, 864),
    GpuPeak("NVIDIA L4", ("L4",), 0.49, 30.3, 60.0, 121.0, 121.0, 300, unless=("L40",)),
    GpuPeak("NVIDIA A10", ("A10",), 0.98, 31.2, 62.5, 125.0, 125.0, 600, unless=("A100", "A10G")),
    GpuPeak("NVIDIA V100 SXM2", ("V100", "SXM2"), 7.8, 15.7, None, 125.0, None, 900),
    GpuPeak("NVIDIA V100 PCIe", ("V100",), 7.0, 14.0, None, 112.0, None, 900),
    GpuPeak("NVIDIA T4", ("T4",), 0.25, 8.1, None, 65.0, None, 320),
)


def gpu_peak(device_name: str) -> GpuPeak | None:
    for entry in GPU_PEAKS:
        if all(m in device_name for m in entry.match) and not any(u in device_name for u in entry.unless):
            return entry
    return None


@dataclass
class Peak:
    """Peak FLOP/s per dtype and bandwidth (bytes/s) of the device a report ran on."""

    device: str
    flops: dict[str, float] = field(default_factory=dict)  # dtype -> FLOP/s
    bandwidth: float | None = None
    source: str = ""

    def flops_for(self, dtype: str) -> float | None:
        return self.flops.get(dtype)

    def roofline(self, dtype: str, intensity: float) -> float | None:
        """Attainable FLOP/s at ``intensity`` FLOP/byte: min(peak, intensity x bandwidth)."""
        peak = self.flops_for(dtype)
        if peak is None or self.bandwidth is None:
            return peak
        return min(peak, intensity * self.bandwidth)

    def to_json(self) -> dict[str, Any]:
        return {"device": self.device, "flops": dict(self.flops), "bandwidth": self.bandwidth, "source": self.source}


def from_table(entry: GpuPeak) -> Peak:
    rates = {"float64": entry.float64, "float32": entry.float32, "tf32": entry.tf32, "float16": entry.float16,
             "bfloat16": entry.bfloat16}
    return Peak("cuda", {k: v * TERA for k, v in rates.items() if v is not None}, entry.bandwidth_gbs * GIGA,
                f"table: {entry.name} datasheet (dense, boost clock)")


def measure_peak(device: str, dtypes: list[str], *, matmul_n: int | None = None, repeats: int = 10) -> Peak:
    """Best-of-``repeats`` FLOP/s of an n x n ``torch.mm`` per dtype, and copy bandwidth."""
    import torch

    from ..check.precision import PRECISIONS, torch_math_mode

    cuda = device == "cuda"

    def sync() -> None:
        if cuda:
            torch.cuda.synchronize()

    def best(fn: Any) -> float:
        fn()
        sync()
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            fn()
            sync()
            times.append(time.perf_counter() - start)
        return min(times)

    flops: dict[str, float] = {}
    sizes = []
    for name in dtypes:
        precision = PRECISIONS.get(name)
        if precision.cuda_only and not cuda:
            continue
        n = matmul_n or (8192 if cuda else (1024 if precision.dtype in ("float32", "float64") else 256))
        a = torch.randn(n, n, device=device).to(getattr(torch, precision.dtype))
        b = torch.randn(n, n, device=device).to(getattr(torch, precision.dtype))
        with torch_math_mode(precision):
            seconds = best(lambda: torch.mm(a, b))
        flops[name] = 2 * n**3 / seconds
        sizes.append(f"{name} {n}x{n}")
    elements = (256 if cuda else 32) * 2**20  # 1 GiB / 128 MiB of float32: far beyond any cache
    src = torch.ones(elements, device=device)
    dst = torch.empty_like(src)
    seconds = best(lambda: dst.copy_(src))
    bandwidth = 2 * src.numel() * src.element_size() / seconds
    return Peak(device, flops, bandwidth,
                f"measured: best of {repeats} torch.mm ({', '.join(sizes)}) and copies of "
                f"{src.numel() * src.element_size() // 2**20} MiB")


def combine(first: Peak, second: Peak) -> Peak:
    """The higher of two measurements per dtype: load on a shared machine only ever lowers a measured peak."""
    flops = {k: max(first.flops.get(k, 0.0), second.flops.get(k, 0.0)) for k in {*first.flops, *second.flops}}
    bandwidth = max(first.bandwidth or 0.0, second.bandwidth or 0.0) or None
    return Peak(first.device, flops, bandwidth, first.source.replace("measured:", "measured before and after the run,"
                                                                   " the higher kept:", 1))


def device_peak(device: str, dtypes: list[str], device_name: str) -> Peak:
    """The table's peak for a known GPU, else a measured one (CPU always measured)."""
    if device == "cuda":
        entry = gpu_peak(device_name)
        if entry is not None:
            return from_table(entry)
    return measure_peak(device, dtypes)


__all__ = ["GPU_PEAKS", "GpuPeak", "Peak", "gpu_peak", "from_table", "measure_peak", "device_peak", "combine"]
