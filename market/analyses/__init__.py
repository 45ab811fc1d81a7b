"""Approved analyses: custom code a product's approver accepted by hash, with its output schema and parameters."""

from shuniu.market.analyses.errors import DENIED, INVALID, NOT_FOUND, PRECONDITION, AnalysisRefusal
from shuniu.market.analyses.params import OUTPUT_TYPES, PARAMETER_TYPE_NAMES, as_python, describe, parse_values
from shuniu.market.analyses.rules import (
    APPROVED, PROPOSED, REJECTED, approve, approver_of, check_decider, check_proposal, code_sha256, new_analysis,
    reject,
)
from shuniu.market.analyses.store import (
    ANALYSES_KEY, ANALYSIS_EVENTS_KEY, AnalysisStore, analysis_key, new_analysis_id, queue_analysis_write,
)
from shuniu.market.analyses.use import needs_analysis, resolve_custom

__all__ = [
    "ANALYSES_KEY", "ANALYSIS_EVENTS_KEY", "APPROVED", "DENIED", "INVALID", "NOT_FOUND", "OUTPUT_TYPES",
    "PARAMETER_TYPE_NAMES", "PRECONDITION", "PROPOSED", "REJECTED", "AnalysisRefusal", "AnalysisStore", "analysis_key",
    "approve", "approver_of", "as_python", "check_decider", "check_proposal", "code_sha256", "describe",
    "needs_analysis", "new_analysis", "new_analysis_id", "parse_values", "queue_analysis_write", "reject",
    "resolve_custom",
]
