"""Integer rounding shared by the rating kernels: half to even, once, at the line."""

from __future__ import annotations

from numba import njit


@njit(cache=True, nogil=True)
def round_half_even_split(whole, num, den):
    """Round whole + num/den to an integer, half to even; whole >= 0, num >= 0, 0 < den < 2^62."""
    q = num // den
    r = num - q * den
    value = whole + q
    twice = 2 * r
    if twice > den or (twice == den and (value & 1) == 1):
        value += 1
    return value


@njit(cache=True, nogil=True)
def round_half_even_div(num, den):
    """Round num/den to an integer, half to even; num >= 0, 0 < den < 2^62."""
    return round_half_even_split(0, num, den)
