"""Revenue split: fen lines to rights holders, 反哺 fund, compute centers and the exchange, exactly.

Names load on first use: the split kernel pulls in Numba, which the control plane needs only when
it closes a period or shows a holder's revenue, not to start serving.
"""

from shuniu.market._lazy import lazy_exports

__all__, __getattr__ = lazy_exports(__name__, {
    "hamilton": ("Posting", "SplitResult", "postings", "split_lines", "split_sums"),
    "plans": ("PARTY_TYPES", "SplitPlans", "build_split_plans"),
})
