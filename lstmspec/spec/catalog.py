"""Load specs by shipped name or by path, cached (the paths themselves: :mod:`.paths`)."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from ..errors import SpecError
from .loader import load_file
from .model import Spec
from .paths import resolve_path, shipped_names, specs_dir


@lru_cache(maxsize=64)
def _load_cached(path: str, mtime: float, display: str) -> Spec:
    return load_file(Path(path), display)


def load_spec(name_or_path: str | Path) -> Spec:
    """Load and validate a spec by shipped name or by path; raises SpecError or LookupFailed."""
    path = resolve_path(name_or_path)
    if not path.is_file():
        raise SpecError("no such spec file", file=str(path))
    display = str(path)
    try:
        display = str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        pass
    # a spec that extends another changes when its parent does: key the cache on the shipped files too
    mtime = max([path.stat().st_mtime] + [p.stat().st_mtime for p in specs_dir().glob("*.toml")])
    return _load_cached(str(path.resolve()), mtime, display)


__all__ = ["load_spec", "resolve_path", "shipped_names", "specs_dir"]  # the paths re-exported for callers
