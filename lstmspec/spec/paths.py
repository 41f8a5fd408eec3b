"""Where spec files are: the shipped ones by name, any other by path.

Below both the loader (a spec that ``extends`` a shipped one finds its parent
here) and the catalog (which loads and caches), so neither imports the other.
"""
from __future__ import annotations

from pathlib import Path

from ..errors import LookupFailed


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


__all__ = ["resolve_path", "shipped_names", "specs_dir"]
