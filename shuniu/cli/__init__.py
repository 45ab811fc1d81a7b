"""The `shuniu` command line."""

from shuniu.cli._app import app
from shuniu.cli import audit_cmd, bench_cmd, ca_cmd, cert_cmd, jobs_cmd, billing_cmd, grants_cmd, ledger_cmd, negative_list_cmd, nodes_cmd, products_cmd, stack_cmd, top_cmd, topology_cmd, vouchers_cmd  # noqa: F401  (registers commands)
from shuniu.cli import credit_cmd, holder_cmd  # noqa: F401  (registers commands)
from shuniu.cli import fees_cmd  # noqa: F401  (registers commands)


def main() -> None:
    app()


__all__ = ["app", "main"]
