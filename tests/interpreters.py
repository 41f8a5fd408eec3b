"""A real Python environment without some installed packages, for tests of what lstmspec
does where a framework is not installed.

No fake module stands in for the missing one: the environment is a fresh virtual
environment of this interpreter whose site-packages links to every entry of this
environment's site-packages except the files of the distributions that provide the
left-out modules. ``import torch`` then fails there the way it does for a user who never
installed it, in the processes lstmspec starts too (helpers, kernel workers).
"""
from __future__ import annotations

import importlib.metadata
import subprocess
import sysconfig
import venv
from pathlib import Path


def python_without(folder: Path, modules: tuple[str, ...]) -> Path:
    """The interpreter of a virtual environment in ``folder``: this one's packages less those of ``modules``."""
    home = folder / ("env-without-" + "-".join(modules))
    python = home / "bin" / "python"
    if python.exists():
        return python
    providers = importlib.metadata.packages_distributions()
    left_out = {"__pycache__"}
    for module in modules:
        for name in providers[module]:
            files = importlib.metadata.distribution(name).files or []
            left_out |= {f.parts[0] for f in files if f.parts[0] != ".."}
    venv.EnvBuilder(with_pip=False, symlinks=True).create(home)
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    for entry in Path(sysconfig.get_paths()["purelib"]).iterdir():
        if entry.name not in left_out and not (site / entry.name).exists():
            (site / entry.name).symlink_to(entry)
    return python


def run_without(folder: Path, modules: tuple[str, ...], code: str,
                env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``code`` where ``modules`` are not installed, in ``folder`` (isolated mode: no PYTHON* variables,
    no user site-packages). lstmspec's editable install is a ``.pth`` file among the links, so lstmspec
    imports there as it does here."""
    python = python_without(folder, modules)
    return subprocess.run([str(python), "-I", "-c", code], capture_output=True, text=True, cwd=folder, env=env,
                          timeout=600)


def lstmspec_without(folder: Path, modules: tuple[str, ...], *argv: str) -> subprocess.CompletedProcess[str]:
    """``python -m lstmspec ARGV`` where ``modules`` are not installed."""
    python = python_without(folder, modules)
    return subprocess.run([str(python), "-I", "-m", "lstmspec", *argv], capture_output=True, text=True, cwd=folder,
                          timeout=600)
