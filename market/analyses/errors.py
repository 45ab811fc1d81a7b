"""Refusals of the analysis rules; the servicer and admission turn each kind into its gRPC status."""

from __future__ import annotations

INVALID = "INVALID_ARGUMENT"        # the request itself is malformed
NOT_FOUND = "NOT_FOUND"             # no such analysis or product
PRECONDITION = "FAILED_PRECONDITION"  # valid, but not in the state or scope the rule needs
DENIED = "PERMISSION_DENIED"        # the caller may not decide this analysis


class AnalysisRefusal(Exception):
    """A refused request: `kind` is a gRPC status name, `rule` a machine-readable reason, `message` says
    what is wrong and what would be right."""

    def __init__(self, kind: str, rule: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.rule = rule
        self.message = message


def invalid(field: str, message: str) -> AnalysisRefusal:
    return AnalysisRefusal(INVALID, f"invalid:{field}", message)
