"""Every `shuniu` process has Numba compile for the host with 512-bit vectors where it has AVX-512."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from shuniu.stack.numba_target import _has_avx512, wide_vector_features

# Numba reads the variable when its first jitted function is defined: the CLI sets it first thing.
_PROBE = ("import os; import shuniu.cli; from numba.core.registry import cpu_target; "
          "print(os.environ.get('NUMBA_CPU_FEATURES')); print(cpu_target.target_context.codegen()._tm_features)")


def _probe(env_value: str | None) -> list[str]:
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CPU_FEATURES"}
    if env_value is not None:
        env["NUMBA_CPU_FEATURES"] = env_value
    return subprocess.run([sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True, check=True).stdout.split()


@pytest.mark.skipif(not _has_avx512(), reason="no AVX-512 on this host: Numba keeps its own choice")
def test_the_cli_has_numba_prefer_512_bit_vectors_on_an_avx512_host():
    variable, compiled_with = _probe(None)
    assert variable == compiled_with == wide_vector_features()
    assert compiled_with.endswith(",-prefer-256-bit") and "+avx512f" in compiled_with


def test_an_operator_s_own_features_are_kept():
    own = wide_vector_features().removesuffix(",-prefer-256-bit")
    assert _probe(own) == [own, own]
