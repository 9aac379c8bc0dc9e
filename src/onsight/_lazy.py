"""Package names that load on first use, so that `onsight --help` and light commands do not
import video decoding, tracking and detection they never run."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(exports: Mapping[str, str]) -> Callable[[str], Any]:
    """A module `__getattr__` that imports `exports[name]` (a module path) on first use."""

    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError(name)
        return getattr(importlib.import_module(exports[name]), name)

    return __getattr__
