"""Voucher use on statements: the amount each statement shows as voucher use.

A voucher posting moves fen from a subsidy account to a buyer (POSTING_KIND_VOUCHER); its two
statement lines are made with every other transfer's (market/ledger/transfers.py).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from shuniu.protos.v1 import ledger_pb2

__all__ = ["voucher_used_fen"]

_VOUCHER = ledger_pb2.POSTING_KIND_VOUCHER


def voucher_used_fen(lines: pa.Table) -> int:
    """Fen of vouchers used on one account's statement lines (paid to a buyer, or paid out by a subsidy account)."""
    amounts = lines.filter(pc.equal(lines.column("kind"), _VOUCHER)).column("amount_fen").to_numpy()
    return int(np.abs(amounts).sum())

