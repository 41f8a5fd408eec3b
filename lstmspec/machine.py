"""Facts about the CPU from ``/proc/cpuinfo`` (Linux), read in one place for reports and routing choices,
and the devices lstmspec runs on."""
from __future__ import annotations

import platform

#: the devices ``--device``, ``device=`` and a kernel's ``lstmspec_devices`` name
DEVICES = ("cpu", "cuda")


def _proc_value(path: str, field: str) -> str:
    """The first value of ``field`` in a ``key: value`` file of /proc; "" where the file or the field is missing."""
    try:
        with open(path, encoding="ascii", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == field:
                    return value.strip()
    except OSError:
        pass
    return ""


def cpuinfo(field: str) -> str:
    """The first value of ``field`` (``model name``, ``vendor_id``) in /proc/cpuinfo; "" where there is none."""
    return _proc_value("/proc/cpuinfo", field)


def cpu_name() -> str:
    """The CPU's model name, or what the platform module knows where /proc/cpuinfo does not say."""
    return cpuinfo("model name") or platform.processor() or platform.machine()


def meminfo(field: str) -> int:
    """``field`` of /proc/meminfo (``MemTotal``, ``MemAvailable``) in bytes; 0 where there is none."""
    number, _, unit = _proc_value("/proc/meminfo", field).partition(" ")
    try:
        return int(number) * (1024 if unit.lower() == "kb" else 1)
    except ValueError:  # no such field, or not a number
        return 0


MEMORY_CAP_FRACTION = 0.5  # of MemTotal: the default cap of a kernel worker and what it starts

_UNITS = {"": 1, "b": 1, "k": 2**10, "kb": 2**10, "kib": 2**10, "m": 2**20, "mb": 2**20, "mib": 2**20,
          "g": 2**30, "gb": 2**30, "gib": 2**30, "t": 2**40, "tb": 2**40, "tib": 2**40}


def default_memory_cap() -> int | None:
    total = meminfo("MemTotal")
    return int(total * MEMORY_CAP_FRACTION) if total else None


def parse_memory(text: str) -> int:
    """Bytes from ``4G``, ``512M``, ``1.5GiB``, ``2000000`` or ``50%`` (of MemTotal); ValueError says why not."""
    raw = text.strip().lower()
    if raw.endswith("%"):
        total = meminfo("MemTotal")
        if not total:
            raise ValueError(f"a percentage needs /proc/meminfo; give a size such as 4G, not {text!r}")
        number, scale = raw[:-1], total / 100
    else:
        digits = raw.rstrip("abcdefghijklmnopqrstuvwxyz")
        unit = raw[len(digits):]
        if unit not in _UNITS:
            raise ValueError(f"expected a size such as 4G, 512M or 50% but got {text!r}")
        number, scale = digits, _UNITS[unit]
    try:
        value = float(number)
    except ValueError:
        raise ValueError(f"expected a size such as 4G, 512M or 50% but got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise ValueError(f"expected a positive size such as 4G but got {text!r}")
    return int(value * scale)
