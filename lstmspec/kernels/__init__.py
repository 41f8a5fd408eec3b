"""User kernels: the protocol, loading ``FILE.py:NAME``, and process isolation."""
from .protocol import KernelAdapter, KernelFault, kernel

__all__ = ["KernelAdapter", "KernelFault", "kernel"]
