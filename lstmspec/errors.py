"""The exception tree of lstmspec.

Every error a user can cause carries fields, not only a sentence, so that the
CLI can print one precise line and tests can assert on the fields:

    LstmspecError
    ├── SpecError          a spec file is wrong (file, key, line, offending text)
    ├── ConfigError        a configuration (dims, attributes, config dict) is wrong
    │   └── ShapeError     arrays handed to the reference do not fit the spec
    └── LookupFailed       a name (spec, function, framework...) is not registered
"""
from __future__ import annotations

import re
from collections.abc import Iterable


class LstmspecError(Exception):
    """Base class: an error whose message is meant for the user, without traceback."""

    exit_code = 2


class SpecError(LstmspecError):
    """A spec file breaks a rule of the spec language.

    `file`, `key` (dotted TOML path such as ``equations.i``), `line` (1-based,
    where it could be located) and `text` (the offending text) are kept as
    fields; `str()` gives ``file:line: [key] message: `text```.
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        key: str | None = None,
        line: int | None = None,
        text: str | None = None,
    ) -> None:
        self.message = message
        self.file = file
        self.key = key
        self.line = line
        self.text = text
        super().__init__(self._format())

    def _format(self) -> str:
        where = self.file or "<spec>"
        if self.line is not None:
            where += f":{self.line}"
        out = f"{where}: "
        if self.key:
            out += f"[{self.key}] "
        out += self.message
        if self.text is not None and self.text not in self.message:
            out += f": `{self.text}`"
        # one line whatever the file holds: a newline or control character in a value is shown escaped
        return re.sub(r"[\x00-\x1f\x7f]", lambda m: repr(m.group())[1:-1], out)

    def located(self, *, file: str | None = None, key: str | None = None, line: int | None = None) -> "SpecError":
        """A copy with missing location fields filled in (inner parsers know less)."""
        return SpecError(
            self.message,
            file=self.file or file,
            key=self.key or key,
            line=self.line if self.line is not None else line,
            text=self.text,
        )


class ConfigError(LstmspecError):
    """A configuration given by the user (CLI ``dim=value``, a ``config`` dict) is invalid."""


class ShapeError(ConfigError):
    """Arrays passed to the reference (or returned by a kernel) have the wrong shape."""


class LookupFailed(LstmspecError, KeyError):
    """A name was looked up in a registry and is not there; the message lists what is."""

    def __init__(self, what: str, name: str, available: Iterable[str]) -> None:
        self.what = what
        self.name = name
        self.available = sorted(available)
        listing = ", ".join(self.available) or "(none)"
        super().__init__(f"unknown {what} {name!r}; available: {listing}")

    def __str__(self) -> str:  # KeyError would repr() the message
        return self.args[0]
