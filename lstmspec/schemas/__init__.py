"""JSON Schema files (draft 2020-12) of lstmspec's JSON outputs, shipped in the package.

Every JSON output has ``"schema"`` (its name) and an integer ``"version"``;
``load("check")`` is the schema of ``lstmspec check --json``, and likewise
``bench``, ``shapes`` and ``defaults``. A reader can validate a file with
``jsonschema.validate(document, lstmspec.schemas.load(document["schema"]))``.
"""
from __future__ import annotations

import json
from importlib import resources
from typing import Any

NAMES = ("check", "bench", "shapes", "defaults")


def load(name: str) -> dict[str, Any]:
    """The JSON Schema of output ``name`` (``check`` or ``lstmspec-check``, ...)."""
    from ..errors import LookupFailed

    short = name.removeprefix("lstmspec-")
    if short not in NAMES:
        raise LookupFailed("JSON schema", name, NAMES)
    return json.loads(resources.files(__package__).joinpath(f"{short}.json").read_text(encoding="utf-8"))


__all__ = ["NAMES", "load"]
