"""Rating: usage records to fen lines (compute, data, guided-cap reduction) with Numba kernels.

Names load on first use: the rate tables are plain numpy and the control plane reads them for fee
schedules, while the kernels pull in Numba, which only the biller needs at once.
"""

from shuniu.market._lazy import lazy_exports

_HOMES = {
    "RatedBatch": "batch",
    "RatingInputError": "batch",
    "RatingInputs": "batch",
    "prepare_batch": "batch",
    "rate_batch": "batch",
    "rate_inputs": "batch",
    "rate_inputs_twin": "batch",
    "units_before_from_mapping": "batch",
    "RateTables": "tables",
    "build_rate_tables": "tables",
}
__all__ = sorted(_HOMES)
__getattr__ = lazy_exports(__name__, _HOMES)
