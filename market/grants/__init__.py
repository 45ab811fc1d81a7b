"""Grants: a buyer's use of named products for one scenario (一场景一申请、一场景一授权)."""

from shuniu.market.grants.decisions import (
    Decision, approve, as_read, decide, effective_state, new_grant, price_versions, reject, require_state,
    revoke,
)
from shuniu.market.grants.rules import GrantPolicy, GrantRefusal, check_analyses, check_fields, check_products
from shuniu.market.grants.store import (
    GRANT_EVENTS_KEY, GRANTS_KEY, GrantStore, buyer_key, grant_key, jobs_key, new_grant_id, queue_grant_write,
    queue_transition, usage_from_hash, usage_key,
)
from shuniu.market.grants.use import Ask, GrantUse, UseDecision, check_limits, check_scope, check_use

__all__ = [
    "GRANTS_KEY", "GRANT_EVENTS_KEY", "Ask", "Decision", "GrantUse", "GrantPolicy", "GrantRefusal", "GrantStore", "UseDecision",
    "approve", "as_read", "buyer_key", "check_analyses", "check_fields", "check_limits", "check_products", "check_scope", "check_use",
    "decide", "effective_state", "grant_key", "jobs_key", "new_grant", "new_grant_id", "price_versions",
    "queue_grant_write", "queue_transition", "reject", "require_state", "revoke", "usage_from_hash", "usage_key",
]
