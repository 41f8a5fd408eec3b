"""Facts about the CPU from ``/proc/cpuinfo`` (Linux), read in one place for reports and routing choices."""
from __future__ import annotations

import platform


def cpuinfo(field: str) -> str:
    """The first value of ``field`` (``model name``, ``vendor_id``) in /proc/cpuinfo; "" where there is none."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == field:
                    return value.strip()
    except OSError:
        pass
    return ""


def cpu_name() -> str:
    """The CPU's model name, or what the platform module knows where /proc/cpuinfo does not say."""
    return cpuinfo("model name") or platform.processor() or platform.machine()
