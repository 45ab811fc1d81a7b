"""The catalog of data products: spec rules, lifecycle, price versions and their Redis store."""

from shuniu.market.catalog.errors import CatalogError
from shuniu.market.catalog.lifecycle import (
    DELISTED, LISTED, REGISTERED, REJECTED, STATE_NAMES, UNDER_REVIEW, apply_delist, apply_price, apply_review,
    apply_verification, register, state_name,
)
from shuniu.market.catalog.pricing import UNIT_NAMES, check_pricing
from shuniu.market.catalog.rights import BP_TOTAL, check_right, check_rights
from shuniu.market.catalog.spec import arrow_type, check_spec
from shuniu.market.catalog.store import PRODUCTS_KEY, ProductStore, prices_key, product_key, queue_product_write

__all__ = [
    "BP_TOTAL", "DELISTED", "LISTED", "PRODUCTS_KEY", "REGISTERED", "REJECTED", "STATE_NAMES", "UNDER_REVIEW",
    "UNIT_NAMES", "CatalogError", "ProductStore", "apply_delist", "apply_price", "apply_review", "apply_verification",
    "arrow_type", "check_pricing", "check_right", "check_rights", "check_spec", "prices_key", "product_key",
    "queue_product_write", "register", "state_name",
]
