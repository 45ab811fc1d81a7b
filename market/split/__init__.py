"""Revenue split: fen lines to rights holders, 反哺 fund, compute centers and the exchange, exactly.

Names load on first use: the split kernel pulls in Numba, which the control plane needs only when
it closes a period or shows a holder's revenue, not to start serving.
"""

from shuniu.market._lazy import lazy_exports

_HOMES = {
    "Posting": "hamilton",
    "SplitResult": "hamilton",
    "postings": "hamilton",
    "split_lines": "hamilton",
    "PARTY_TYPES": "plans",
    "SplitPlans": "plans",
    "build_split_plans": "plans",
}
__all__ = sorted(_HOMES)
__getattr__ = lazy_exports(__name__, _HOMES)
