"""Integer rounding shared by the rating kernels: half to even, once, at the line."""

from __future__ import annotations

import numpy as np
from numba import njit

MAX_ROUNDED_MILLIFEN = 2**60  # where the float estimate below is proven within one of the floor
_ONE = np.int64(1)
_MILLIFEN_PER_FEN = np.int64(1000)
_HALF_FEN = np.int64(500)


@njit(cache=True, nogil=True, inline="always")
def round_half_even_millifen(millifen):
    """Round milli-fen (0 <= millifen < 2^60, int64) to fen, half to even, exactly.

    SIMD lanes have no 64-bit integer division, so the quotient is estimated in float64 (three
    roundings of relative error 2^-53 on a value below 2^50: within 0.4 of the exact quotient),
    then corrected by the exact integer remainder. Selections are arithmetic, not branches: a
    loop of these runs eight lines at a time, and whether a line rounds up is data."""
    q = np.int64(float(millifen) * 0.001)
    r = millifen - q * _MILLIFEN_PER_FEN
    q = q - np.int64(r < 0) + np.int64(r >= _MILLIFEN_PER_FEN)
    r = millifen - q * _MILLIFEN_PER_FEN
    return q + np.int64((r > _HALF_FEN) | ((r == _HALF_FEN) & ((q & _ONE) == _ONE)))
