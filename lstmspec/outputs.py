"""Files a command writes: their paths checked before anything runs, their contents written atomically.

A check can run for many minutes; a report path that cannot be written
(a directory, a missing folder, a read-only place) is found at the start,
not after the run. A report is written to a temporary file beside its
target and renamed over it, so a reader never sees half a report and a
failed write (a full disk) leaves the previous file as it was. Targets
that are not regular files (``/dev/stdout``, a FIFO, ``/dev/full``) cannot be
renamed over and are written directly.

    check_file_target("out.json", "--json")    # raises OutputError: one line for the user
    atomic_write("out.json", text)             # temp file in the same folder, then os.replace
"""
from __future__ import annotations

import errno
import os
import stat
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path

from .errors import LstmspecError

#: errors of writes to stdout/stderr that end a command (exit 2) rather than show a traceback
STREAM_ERRNOS = frozenset({errno.EPIPE, errno.ENOSPC, errno.EIO, errno.EDQUOT, errno.EFBIG, errno.EBADF,
                           errno.ECONNRESET})


class OutputError(LstmspecError):
    """An output path that cannot be written, or a write that failed; ``path`` and ``option`` are kept."""

    def __init__(self, message: str, *, path: str | None = None, option: str | None = None) -> None:
        self.path, self.option = path, option
        super().__init__(message)


def shown(path: str | os.PathLike[str], limit: int = 80) -> str:
    """``path`` for a one-line message: a very long one is cut in the middle, with its length."""
    text = os.fspath(path)
    if len(text) <= limit:
        return text
    return f"{text[:limit // 2]}...{text[-(limit // 4):]} ({len(text)} characters)"


def _fail(option: str, path: str, why: str) -> OutputError:
    return OutputError(f"{option} {shown(path)}: {why}", path=path, option=option)


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc)


def check_file_target(path: str | os.PathLike[str], option: str) -> Path:
    """Raise OutputError unless a file can be written at ``path``: its folder exists and takes a new file,
    and ``path`` is not a folder. An existing non-regular file (a device, a FIFO) must open for writing."""
    text = os.fspath(path)
    if not text:
        raise _fail(option, text, "an empty path")
    target = Path(text)
    if text.endswith(os.sep):
        raise _fail(option, text, "names a folder; give a file name")
    try:
        st = target.stat()
    except FileNotFoundError:
        st = None
    except OSError as exc:  # ENAMETOOLONG, ENOTDIR (a file used as a folder), ELOOP, EACCES
        raise _fail(option, text, _reason(exc)) from None
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise _fail(option, text, "is a folder; give a file name")
    if st is not None and not stat.S_ISREG(st.st_mode):
        if stat.S_ISFIFO(st.st_mode) or stat.S_ISSOCK(st.st_mode):
            return target  # opening a FIFO for writing would wait for a reader
        try:
            os.close(os.open(text, os.O_WRONLY | os.O_APPEND))
        except OSError as exc:
            raise _fail(option, text, f"cannot be opened for writing: {_reason(exc)}") from None
        return target
    parent = target.parent
    if not parent.is_dir():
        raise _fail(option, text, f"folder {shown(parent)} does not exist")
    _probe(parent, option, text)
    return target


def check_dir_target(path: str | os.PathLike[str], option: str) -> Path:
    """Raise OutputError unless ``path`` is a writable folder or can be created as one."""
    text = os.fspath(path)
    if not text:
        raise _fail(option, text, "an empty path")
    target = Path(text)
    try:
        st = target.stat()
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise _fail(option, text, _reason(exc)) from None
    if st is not None:
        if not stat.S_ISDIR(st.st_mode):
            raise _fail(option, text, "is not a folder (a folder to write the report into is expected)")
        _probe(target, option, text)
        return target
    ancestor = target.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise _fail(option, text, f"cannot be created: {shown(ancestor)} is not a folder")
    _probe(ancestor, option, text)
    return target


def _probe(folder: Path, option: str, text: str) -> None:
    """Create and remove a temporary file in ``folder``: the one test that answers as root and on /proc alike."""
    try:
        fd, name = tempfile.mkstemp(dir=folder, prefix=".lstmspec-", suffix=".tmp")
    except OSError as exc:
        raise _fail(option, text, f"cannot write in {shown(folder)}: {_reason(exc)}") from None
    os.close(fd)
    os.unlink(name)


def check_distinct(targets: Iterable[tuple[str, str | None]]) -> None:
    """Raise OutputError when two options name the same file (the second report would replace the first)."""
    seen: dict[str, str] = {}
    for option, path in targets:
        if not path:
            continue
        key = os.path.abspath(path)
        if key in seen:
            raise _fail(option, path, f"is also given to {seen[key]}; give each report its own file")
        seen[key] = option


def is_regular_target(path: str | os.PathLike[str]) -> bool:
    """True for a regular file or a path that does not exist yet (where a sibling file may be created)."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except FileNotFoundError:
        return True
    except OSError:
        return False


def atomic_write(path: str | os.PathLike[str], data: str | bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same folder and ``os.replace``.

    Raises OutputError (one line) when the write fails; the temporary file is
    removed and an existing file at ``path`` is left as it was.
    """
    target = Path(path)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    if not is_regular_target(target):
        try:
            with open(target, "wb") as f:
                f.write(raw)
        except OSError as exc:
            raise OutputError(f"cannot write {shown(target)}: {_reason(exc)}", path=str(target)) from None
        return target
    name = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name[:100]}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
        os.chmod(name, _mode(target))
        os.replace(name, target)
        name = None
    except OSError as exc:
        raise OutputError(f"cannot write {shown(target)}: {_reason(exc)}", path=str(target)) from None
    finally:
        if name is not None:
            try:
                os.unlink(name)
            except OSError:
                pass
    return target


def _mode(target: Path) -> int:
    """The mode a plain ``open(target, "w")`` would give: an existing file's, else 0o666 less the umask."""
    try:
        return stat.S_IMODE(target.stat().st_mode)
    except OSError:
        mask = os.umask(0)
        os.umask(mask)
        return 0o666 & ~mask


def write_stdout(text: str) -> None:
    """``text`` to stdout, flushed, so that a full disk or a closed pipe is raised here."""
    sys.stdout.write(text)
    sys.stdout.flush()


__all__ = ["OutputError", "STREAM_ERRNOS", "atomic_write", "check_dir_target", "check_distinct",
           "check_file_target", "is_regular_target", "shown", "write_stdout"]
