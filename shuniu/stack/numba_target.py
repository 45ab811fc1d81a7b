"""What Numba compiles for: the host CPU, with its 512-bit vectors used where it has them.

LLVM tunes recent Intel cores (Ice Lake, Rocket Lake, Sapphire Rapids) to prefer 256-bit
vectors even when AVX-512 is there, to spare older Xeons their clock drop on wide vectors.
On this machine the rating kernel's SIMD passes run 4-5 % faster on 512-bit vectors
(`shuniu bench rating`, batches of 20,000: 101-103 M against 105-107 M records/s, runs
alternating). Numba reads NUMBA_CPU_FEATURES once, when its first jitted function is
defined, so a process sets it before importing anything that uses Numba; an operator's
own value wins.
"""

from __future__ import annotations

import os

__all__ = ["prefer_wide_vectors", "wide_vector_features"]

_VARIABLE = "NUMBA_CPU_FEATURES"


def prefer_wide_vectors() -> None:
    """Have Numba compile with the host's features and 512-bit vectors preferred, unless already set
    or the CPU has no AVX-512."""
    if _VARIABLE in os.environ or not _has_avx512():
        return
    os.environ[_VARIABLE] = wide_vector_features()


def wide_vector_features() -> str:
    """The host CPU's LLVM feature string with the tuning that prefers 256-bit vectors turned off."""
    import llvmlite.binding as llvm  # noqa: PLC0415  (40 ms to load: only on hosts that use it)

    return llvm.get_host_cpu_features().flatten() + ",-prefer-256-bit"


def _has_avx512() -> bool:
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as cpuinfo:
            return any(line.startswith("flags") and " avx512f " in f"{line.rstrip()} " for line in cpuinfo)
    except OSError:
        return False
