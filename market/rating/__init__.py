"""Rating: usage records to fen lines (compute, data, guided-cap reduction) with Numba kernels.

Names load on first use: the rate tables are plain numpy and the control plane reads them for fee
schedules, while the kernels pull in Numba, which only the biller needs at once.
"""

from shuniu.market._lazy import lazy_exports

__all__, __getattr__ = lazy_exports(__name__, {
    "batch": ("RatedBatch", "RatingInputError", "RatingInputs", "prepare_batch", "rate_batch", "rate_inputs",
              "rate_inputs_twin", "rating_form", "units_before_from_mapping"),
    "tables": ("RateTables", "build_rate_tables", "index_type"),
})
