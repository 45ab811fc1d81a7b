"""Integer rounding shared by the rating kernels: half to even, once, at the line."""

from __future__ import annotations

import numpy as np
from numba import njit

_U_MILLIFEN_PER_FEN = np.uint64(1000)
_U_ONE, _U_TWO = np.uint64(1), np.uint64(2)


@njit(cache=True, nogil=True, inline="always")
def round_half_even_millifen(millifen):
    """Round milli-fen (>= 0, int64) to fen, half to even; unsigned, so the division by 1000 is a multiply."""
    u = np.uint64(millifen)
    q = u // _U_MILLIFEN_PER_FEN
    twice = (u - q * _U_MILLIFEN_PER_FEN) * _U_TWO
    # Bitwise, not `or`/`and`: whether a line rounds up is a coin toss, a branch would mispredict half the time.
    q += np.uint64((twice > _U_MILLIFEN_PER_FEN) | ((twice == _U_MILLIFEN_PER_FEN) & ((q & _U_ONE) == _U_ONE)))
    return np.int64(q)
