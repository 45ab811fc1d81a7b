"""The `shuniu` command line."""

import os

# Arrow's allocator (mimalloc) commits its arenas eagerly, and the kernel then backs them with
# transparent huge pages (2 MB, zeroed on first touch) each time mimalloc purges memory and takes it
# again. Committed on demand instead, the biller alone took 0 huge-page faults per million records
# against 11-13, and in `bench billing`, beside the node side and Redis, its CPU per record fell
# from 1.03-1.06 to 0.91 us. mimalloc reads this when pyarrow loads, so it is set before any command
# imports it; an operator's own value wins.
os.environ.setdefault("MIMALLOC_ARENA_EAGER_COMMIT", "0")

from shuniu.stack.numba_target import prefer_wide_vectors  # noqa: E402

prefer_wide_vectors()  # before any command loads Numba

from shuniu.cli._app import app  # noqa: E402
from shuniu.cli import audit_cmd, bench_cmd, ca_cmd, cert_cmd, jobs_cmd, billing_cmd, grants_cmd, ledger_cmd, negative_list_cmd, nodes_cmd, products_cmd, stack_cmd, top_cmd, topology_cmd, vouchers_cmd  # noqa: F401  (registers commands)
from shuniu.cli import credit_cmd, holder_cmd  # noqa: F401  (registers commands)
from shuniu.cli import fees_cmd  # noqa: F401  (registers commands)
from shuniu.cli import analyses_cmd  # noqa: F401  (registers commands)


def main() -> None:
    app()


__all__ = ["app", "main"]
