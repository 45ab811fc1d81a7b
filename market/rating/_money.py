"""Integer rounding shared by the rating kernels: half to even, once, at the line."""

from __future__ import annotations

import numpy as np
from numba import njit

_U_MILLIFEN_PER_FEN = np.uint64(1000)
_U_HALF_FEN = np.uint64(500)
_U_ZERO, _U_ONE = np.uint64(0), np.uint64(1)


@njit(cache=True, nogil=True, inline="always")
def round_half_even_millifen(millifen):
    """Round milli-fen (>= 0, int64) to fen, half to even; unsigned, so the division by 1000 is a multiply.

    Half up first; a tie (an exact half, where the sum divides by 1000) that landed on an odd fen
    goes back one. Bitwise, not `and`: whether a line ties is data, a branch would guess."""
    up = np.uint64(millifen) + _U_HALF_FEN
    q = up // _U_MILLIFEN_PER_FEN
    tie = np.uint64(up - q * _U_MILLIFEN_PER_FEN == _U_ZERO)
    return np.int64(q - (tie & q & _U_ONE))
