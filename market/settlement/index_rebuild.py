"""The price index recomputed from the statement files alone, as anyone holding them can.

Reads `<settlement dir>/<YYYY-MM>/*.parquet` (one statement per account and closed period)
and applies the published method (price_index.py). It needs no ledger and no Redis, and
gives the index the exchange serves.
"""

from __future__ import annotations

import pathlib
import re

import pyarrow as pa
import pyarrow.parquet as pq

from shuniu.market.settlement.price_index import IndexCell, chain_index, index_cells
from shuniu.protos.v1 import settlement_pb2

__all__ = ["index_from_statements"]

_PERIOD = re.compile(r"\d{4}-\d{2}")


def _period_lines(folder: pathlib.Path) -> pa.Table | None:
    tables = [pq.read_table(path) for path in sorted(folder.glob("*.parquet"))]
    return pa.concat_tables(tables, promote_options="default") if tables else None


def index_from_statements(settlement_dir: str | pathlib.Path, min_transactions: int,
                          min_parties: int) -> tuple[list[settlement_pb2.PriceIndexPoint], dict[tuple[str, str], IndexCell]]:
    """Index points and their cells from every closed period's statement files under `settlement_dir`."""
    root = pathlib.Path(settlement_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"{root} is not a directory; expected the settlement folder (<state dir>/settlement)")
    cells: dict[tuple[str, str], IndexCell] = {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and _PERIOD.fullmatch(p.name)):
        lines = _period_lines(folder)
        if lines is not None:
            cells.update({(category, folder.name): cell for category, cell in index_cells(lines).items()})
    return chain_index(cells, min_transactions, min_parties), cells
