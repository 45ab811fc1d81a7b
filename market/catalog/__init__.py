"""The catalog of data products: spec rules, lifecycle, price versions and their Redis store.

Names load on first use: spec rules pull in pyarrow, which most CLI commands never need.
"""

from shuniu.market._lazy import lazy_exports

_HOMES = {
    "CatalogError": "errors",
    **dict.fromkeys(["DELISTED", "LISTED", "REGISTERED", "REJECTED", "STATE_NAMES", "UNDER_REVIEW", "apply_delist",
                     "apply_price", "apply_review", "apply_verification", "register", "state_name"], "lifecycle"),
    **dict.fromkeys(["UNIT_NAMES", "check_pricing"], "pricing"),
    **dict.fromkeys(["BP_TOTAL", "check_right", "check_rights"], "rights"),
    **dict.fromkeys(["arrow_type", "check_spec"], "spec"),
    **dict.fromkeys(["PRODUCTS_KEY", "ProductStore", "prices_key", "product_key", "queue_product_write"], "store"),
}
__all__ = sorted(_HOMES)
__getattr__ = lazy_exports(__name__, _HOMES)
