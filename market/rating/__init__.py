"""Rating: usage records to fen lines (compute, data, guided-cap reduction) with Numba kernels."""

from shuniu.market.rating.batch import (
    RatedBatch,
    RatingInputError,
    RatingInputs,
    prepare_batch,
    rate_batch,
    rate_inputs,
    rate_inputs_twin,
    units_before_from_mapping,
)
from shuniu.market.rating.tables import RateTables, build_rate_tables

__all__ = [
    "RateTables",
    "RatedBatch",
    "RatingInputError",
    "RatingInputs",
    "build_rate_tables",
    "prepare_batch",
    "rate_batch",
    "rate_inputs",
    "rate_inputs_twin",
    "units_before_from_mapping",
]
