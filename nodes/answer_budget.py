"""What a node does so that each answer costs budget: bounded values, noise scaled to them, k over people. Pure.

Neighbouring inputs differ by one record. Before a noisy aggregate, the runner clamps each
bounded column to its product's declared [lower, upper] (outside the sandbox), so one record
moves an aggregate by at most:
  count     1
  sum       max(|lower|, |upper|)
  mean      (upper - lower) / (k - 1): a released group holds at least k records
  quantile  upper - lower (a gap in the data can move a percentile across the whole range)
and the egress check adds Laplace noise of that sensitivity / ε to each released value.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import pyarrow as pa
import pyarrow.compute as pc

from shuniu.nodes.sandbox import SandboxJob
from shuniu.protos.v1 import runs_pb2

Bounds = Mapping[str, tuple[float, float]]


def bounds_of(run_input: runs_pb2.RunInput) -> dict[str, tuple[float, float]]:
    return {b.column: (b.lower, b.upper) for b in run_input.bounds}


def sensitivity(function: str, bounds: tuple[float, float] | None, min_group_rows: int) -> float:
    """How far one record can move `function` of a column clamped to `bounds` (see the module doc)."""
    if function == "count":
        return 1.0
    if bounds is None:
        # Only where no budget applies (admission refuses unbounded columns of sensitive and core
        # products): noise a buyer asked for on a public column, at a nominal scale, no guarantee.
        return 1.0
    lower, upper = bounds
    if function == "sum":
        return max(abs(lower), abs(upper))
    if function == "mean":
        return (upper - lower) / max(min_group_rows - 1, 1)
    return upper - lower  # quantiles, min, max


def dp_fields(job: SandboxJob, bounds: Bounds, epsilon_milli: int, min_group_rows: int) -> dict:
    """The EgressPolicy fields of a noisy aggregate: every released value noised, counts included."""
    columns, sensitivities = [], {}
    for column, function in job.args["aggregations"]:
        name = f"{column}_{function}"
        columns.append(name)
        sensitivities[name] = sensitivity(function, bounds.get(column), min_group_rows)
    return {"dp_epsilon_milli": epsilon_milli, "dp_columns": tuple(columns), "dp_sensitivity": sensitivities}


def clamp_to_bounds(table: pa.Table, bounds: Bounds) -> pa.Table:
    """Each bounded numeric column with its values clamped to [lower, upper]; nulls stay null."""
    for name, (lower, upper) in bounds.items():
        if name not in table.column_names:
            continue
        column = table.column(name)
        kind = column.type
        if pa.types.is_integer(kind):
            low, high = pa.scalar(math.ceil(lower), kind), pa.scalar(math.floor(upper), kind)
        elif pa.types.is_floating(kind) or pa.types.is_decimal(kind):
            low, high = pa.scalar(lower).cast(kind), pa.scalar(upper).cast(kind)
        else:
            continue  # bounds on a text column set nothing
        clamped = pc.min_element_wise(pc.max_element_wise(column, low, skip_nulls=False), high, skip_nulls=False)
        table = table.set_column(table.column_names.index(name), table.schema.field(name), clamped)
    return table


def entity_columns(run_input: runs_pb2.RunInput) -> list[str]:
    """The product's identifier, read beside the granted columns only to count people for k (never sent in)."""
    ids = [c for c in run_input.identifier_columns if c not in run_input.columns]
    return ids[:1] if not any(c in run_input.columns for c in run_input.identifier_columns) else []


def granted_only(table: pa.Table, columns: Sequence[str]) -> pa.Table:
    return table.select(list(columns)) if table.column_names != list(columns) else table
