"""The processes a kernel worker started, found through /proc: measured and ended.

A worker is the leader of its own process group (``os.setpgrp``). What the
kernel starts is found two ways, because each misses something: descendants
by parent pid (a child that made a group of its own) and members of the
group (a grandchild whose parent already exited and was re-parented). A
process that both leaves the group and loses its parent escapes both; that
takes a deliberate ``setsid`` and a double fork.
"""
from __future__ import annotations

import os
import signal
from pathlib import Path

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def _stat(pid: int) -> tuple[int, int] | None:
    """(parent pid, process group) of pid, or None when it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rfind(")") + 2:].split()  # the command name may hold spaces and parentheses
    return int(fields[1]), int(fields[2])


def _all() -> dict[int, tuple[int, int]]:
    out: dict[int, tuple[int, int]] = {}
    try:
        names = os.listdir("/proc")
    except OSError:
        return out
    for name in names:
        if name.isdigit():
            stat = _stat(int(name))
            if stat is not None:
                out[int(name)] = stat
    return out


def family(leader: int) -> set[int]:
    """``leader``'s descendants and the members of its process group, ``leader`` excluded."""
    table = _all()
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    found: set[int] = set()
    todo = [leader]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    found |= {pid for pid, (_, group) in table.items() if group == leader}
    found.discard(leader)
    found.discard(os.getpid())
    return found


def group_rss(leader: int) -> int:
    """Resident bytes of ``leader`` and its family."""
    total = 0
    for pid in family(leader) | {leader}:
        try:
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * _PAGE
        except (OSError, IndexError, ValueError):
            pass
    return total


def end_descendants(leader: int) -> int:
    """SIGKILL every process ``leader`` started (not ``leader`` itself); how many there were."""
    pids = family(leader)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    return len(pids)


def end_group(leader: int) -> None:
    """SIGKILL ``leader``'s whole family after it has stopped (or been killed)."""
    end_descendants(leader)
    try:
        os.killpg(leader, signal.SIGKILL)
    except OSError:
        pass
