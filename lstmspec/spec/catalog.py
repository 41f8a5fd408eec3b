"""Find spec files: shipped ones by name, any other by path."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from ..errors import LookupFailed, SpecError
from .loader import load_file
from .model import Spec


def specs_dir() -> Path:
    """The shipped specs: ``specs/`` of a source checkout, else the copy installed in the package."""
    source = Path(__file__).resolve().parents[2] / "specs"
    if source.is_dir():
        return source
    return Path(__file__).resolve().parents[1] / "_specs"


def shipped_names() -> list[str]:
    return sorted(p.stem for p in specs_dir().glob("*.toml"))


def resolve_path(name_or_path: str | Path) -> Path:
    """A path for a spec name (``lstm``) or a file path (``specs/lstm.toml``, ``./my.toml``)."""
    text = str(name_or_path)
    if text.endswith(".toml") or "/" in text or "\\" in text:
        return Path(text)
    path = specs_dir() / f"{text}.toml"
    if not path.is_file():
        raise LookupFailed("spec", text, shipped_names())
    return path


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
