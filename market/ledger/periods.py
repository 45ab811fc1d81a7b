"""Settlement periods (months in China Standard Time) and the rule for usage that arrives late."""

from __future__ import annotations

import re
from collections.abc import Container

import numpy as np

__all__ = ["billed_period", "month_name", "next_period", "parse_period", "period_of_ms", "periods_of_ms"]

_CST_OFFSET_MS = 8 * 3_600_000
_PERIOD = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
MAX_OPEN_SEARCH = 1200  # a hundred years of closed periods ahead would be a broken store, not a rule


def parse_period(period: str) -> int:
    """Month index (months since 1970-01) of a "YYYY-MM" period; ValueError saying what is expected."""
    match = _PERIOD.match(period) if isinstance(period, str) else None
    if not match:
        raise ValueError(f"period {period!r} is not of the form YYYY-MM, e.g. 2026-11")
    return (int(match[1]) - 1970) * 12 + int(match[2]) - 1


def month_name(index: int) -> str:
    """"YYYY-MM" of a month index."""
    return f"{1970 + index // 12:04d}-{index % 12 + 1:02d}"


def period_of_ms(unix_ms: int) -> str:
    """The period (CST month) a Unix time in ms falls in."""
    return month_name(int(periods_of_ms(np.array([unix_ms], dtype=np.int64))[0]))


def periods_of_ms(unix_ms: np.ndarray) -> np.ndarray:
    """Month index (int64) per Unix time in ms, in China Standard Time."""
    shifted = np.asarray(unix_ms, dtype=np.int64) + _CST_OFFSET_MS
    if not len(shifted):
        return np.zeros(0, dtype=np.int64)
    first, last = (int(m) for m in np.array([shifted.min(), shifted.max()]).astype("datetime64[ms]").astype("datetime64[M]").astype(np.int64))
    if last - first > MAX_OPEN_SEARCH:  # a batch spread over a century: month by month
        return shifted.astype("datetime64[ms]").astype("datetime64[M]").astype(np.int64)
    # A batch spans a month or two: find each time among the month starts in range, no calendar per record.
    starts = np.arange(first + 1, last + 1).astype("datetime64[M]").astype("datetime64[ms]").astype(np.int64)
    return first + np.searchsorted(starts, shifted, side="right")


def next_period(period: str) -> str:
    return month_name(parse_period(period) + 1)


def billed_period(usage_period: str, closed: Container[str]) -> str:
    """Usage is billed in its own period while that is open, else in the first open period after it."""
    index = parse_period(usage_period)
    for _ in range(MAX_OPEN_SEARCH):
        name = month_name(index)
        if name not in closed:
            return name
        index += 1
    raise AssertionError(f"no open period within {MAX_OPEN_SEARCH} months after {usage_period}")
