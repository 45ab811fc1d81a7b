"""Revenue split: fen lines to rights holders, 反哺 fund, compute centers and the exchange, exactly."""

from shuniu.market.split.hamilton import Posting, SplitResult, postings, split_lines
from shuniu.market.split.plans import PARTY_TYPES, SplitPlans, build_split_plans

__all__ = ["PARTY_TYPES", "Posting", "SplitPlans", "SplitResult", "build_split_plans", "postings", "split_lines"]
