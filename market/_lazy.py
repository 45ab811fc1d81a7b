"""Package exports loaded on first use, for packages whose heavy parts only some processes need."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any


def lazy_exports(package: str, names_by_module: Mapping[str, Sequence[str]]) -> tuple[list[str], Callable[[str], Any]]:
    """(`__all__`, module-level `__getattr__`) for `package`: each exported name is read from its
    submodule when first asked for, so importing the package does not import every submodule."""
    home = {name: module for module, names in names_by_module.items() for name in names}

    def __getattr__(name: str) -> Any:
        if name not in home:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{package}.{home[name]}"), name)

    return sorted(home), __getattr__
