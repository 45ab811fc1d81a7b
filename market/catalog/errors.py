"""Refusals of the catalog's pure rules; the servicer turns each kind into its gRPC status."""

from __future__ import annotations

INVALID = "invalid"            # INVALID_ARGUMENT: the request itself is malformed
PRECONDITION = "precondition"  # FAILED_PRECONDITION: valid, but not in the product's current state
DENIED = "denied"              # PERMISSION_DENIED: the caller may not do this to this product


class CatalogError(ValueError):
    """A refused catalog request; `message` names the field or rule and what would be accepted."""

    def __init__(self, message: str, kind: str = INVALID) -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind


def precondition(message: str) -> CatalogError:
    return CatalogError(message, PRECONDITION)


def denied(message: str) -> CatalogError:
    return CatalogError(message, DENIED)
