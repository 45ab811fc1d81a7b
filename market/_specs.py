"""Shared checks for the plain-data specs that market builders turn into frozen arrays."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np


def only_keys(mapping: Any, allowed: set[str], where: str) -> None:
    """Refuses a spec that is not a mapping or names a key the builder does not know."""
    if not isinstance(mapping, Mapping):
        raise ValueError(f"{where} must be a mapping, got {type(mapping).__name__}")
    unknown = sorted(set(mapping) - allowed)
    if unknown:
        raise ValueError(f"{where}: unknown keys {unknown}; expected some of {sorted(allowed)}")


def frozen(array: np.ndarray) -> np.ndarray:
    """The array, made read-only: rate tables and split plans never change after they are built."""
    array.setflags(write=False)
    return array
