"""Framework adapters (PyTorch, Keras, ONNX Runtime), looked up by name."""
from .base import ADAPTERS, FRAMEWORKS, Adapter, Outcome, Prepared, all_adapters, select_adapters

__all__ = ["ADAPTERS", "FRAMEWORKS", "Adapter", "Outcome", "Prepared", "all_adapters", "select_adapters"]
