"""Optional dependencies of some readers (pyproject extras), and the error that names the missing one."""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

from ..errors import MissingExtraError

# extra name -> the module its reader imports
EXTRAS = {"cdf": "cdflib", "mseed": "obspy"}


def install_hint(extra: str) -> str:
    return f"pip install '.[{extra}]' (installs {EXTRAS[extra]})"


def extra_installed(extra: str) -> bool:
    try:
        return importlib.util.find_spec(EXTRAS[extra]) is not None
    except (ImportError, ValueError):  # ValueError: a module set to None in sys.modules
        return False


def require(extra: str, what: str, name: str) -> ModuleType:
    """Import the extra's module or raise MissingExtraError (HTTP 415) saying how to install it."""
    module = EXTRAS[extra]
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtraError(
            f"{name}: reading {what} needs the optional extra '{extra}', which is not installed: {install_hint(extra)}"
        ) from exc
