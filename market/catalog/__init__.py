"""The catalog of data products: spec rules, lifecycle, price versions and their Redis store.

Names load on first use: spec rules pull in pyarrow, which most CLI commands never need.
"""

from shuniu.market._lazy import lazy_exports

__all__, __getattr__ = lazy_exports(__name__, {
    "errors": ("CatalogError",),
    "lifecycle": ("DELISTED", "LISTED", "REGISTERED", "REJECTED", "STATE_NAMES", "UNDER_REVIEW", "apply_delist",
                  "apply_price", "apply_review", "apply_verification", "register", "state_name"),
    "pricing": ("UNIT_NAMES", "basis_parameters", "basis_text", "check_pricing"),
    "rights": ("BP_TOTAL", "check_right", "check_rights"),
    "spec": ("arrow_type", "check_spec"),
    "store": ("PRODUCTS_KEY", "ProductStore", "prices_key", "product_key", "queue_product_write"),
})
