"""Spec files: loading, validation, the typed model."""
from .catalog import load_spec, resolve_path, shipped_names, specs_dir
from .model import Spec

__all__ = ["Spec", "load_spec", "resolve_path", "shipped_names", "specs_dir"]
