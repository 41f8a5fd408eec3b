"""Find a user kernel from ``FILE.py:NAME`` or ``package.module:NAME``.

Whatever goes wrong here (no such file, a syntax error in it, an exception
while importing it, no such name) is one readable ConfigError: the user's
command line was wrong, not lstmspec.
"""
from __future__ import annotations

import importlib
import importlib.util
import sys
import traceback
from pathlib import Path
from typing import Any

from ..errors import ConfigError


def split_ref(ref: str) -> tuple[str, str]:
    where, sep, name = ref.rpartition(":")
    if not sep or not where or not name or not name.isidentifier():
        raise ConfigError(f"Expected --kernel FILE.py:NAME or package.module:NAME but got {ref!r}")
    return where, name


def load_kernel(ref: str) -> Any:
    where, name = split_ref(ref)
    if where.endswith(".py") or "/" in where or "\\" in where:
        module = _load_file(Path(where))
    else:
        try:
            module = importlib.import_module(where)
        except ImportError as exc:
            raise ConfigError(f"cannot import kernel module {where!r}: {exc}") from None
        except SystemExit as exc:
            raise ConfigError(f"importing {where} called sys.exit({exc.code!r}) (SystemExit); a kernel module "
                              "must not exit") from None
        except (Exception, KeyboardInterrupt) as exc:  # noqa: BLE001 - the user's module failed while importing
            raise ConfigError(f"importing {where} raised {_last_frame(exc)}") from None
    try:
        return getattr(module, name)
    except AttributeError:
        public = sorted(n for n in vars(module) if not n.startswith("_") and callable(getattr(module, n)))
        raise ConfigError(f"{where} has no {name!r}; callables there: {', '.join(public) or '(none)'}") from None


def _load_file(path: Path) -> Any:
    if not path.is_file():
        raise ConfigError(f"kernel file {path} does not exist")
    module_name = f"lstmspec_kernel_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ConfigError(f"cannot load {path} as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # dataclasses and pickling look modules up here
    sys.path.insert(0, str(path.parent.resolve()))  # so the kernel can import its neighbours
    try:
        spec.loader.exec_module(module)
    except SyntaxError as exc:
        raise ConfigError(f"{path}:{exc.lineno}: syntax error: {exc.msg}") from None
    except SystemExit as exc:  # a kernel file that exits must not end lstmspec (with exit 0, a false pass)
        raise ConfigError(f"importing {path} called sys.exit({exc.code!r}) (SystemExit); a kernel file must "
                          "not exit") from None
    except (Exception, KeyboardInterrupt) as exc:  # noqa: BLE001
        raise ConfigError(f"importing {path} raised {_last_frame(exc)}") from None
    finally:
        sys.path.remove(str(path.parent.resolve()))
    return module


def _last_frame(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" at {Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""
    return f"{type(exc).__name__}: {exc}{where}"
