"""Every `shuniu` process has Arrow's allocator commit memory on demand, unless its operator says otherwise."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

# mimalloc reads the variable when pyarrow loads: the CLI sets it first thing, and loading it loads pyarrow.
_PROBE = ("import os, sys; before = 'pyarrow' in sys.modules; import shuniu.cli; "
          "print(os.environ.get('MIMALLOC_ARENA_EAGER_COMMIT'), before, 'pyarrow' in sys.modules)")


@pytest.mark.parametrize("given, expected", [(None, "0"), ("1", "1")], ids=["default", "operator-set"])
def test_the_cli_has_mimalloc_commit_arenas_on_demand_unless_the_operator_set_it(given, expected):
    env = {k: v for k, v in os.environ.items() if k != "MIMALLOC_ARENA_EAGER_COMMIT"}
    if given is not None:
        env["MIMALLOC_ARENA_EAGER_COMMIT"] = given
    out = subprocess.run([sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True, check=True).stdout.split()
    assert out == [expected, "False", "True"]
