"""The negative list (负面清单): data items and uses that may not be traded or released."""

from shuniu.market.negative_list.rules import (
    check_entry, describe, refusal_for_product, refusal_for_use, refusal_message,
)
from shuniu.market.negative_list.store import (
    NEGATIVE_LIST_KEY, NegativeListStore, queue_entry_delete, queue_entry_write,
)

__all__ = ["NEGATIVE_LIST_KEY", "NegativeListStore", "check_entry", "describe", "queue_entry_delete",
           "queue_entry_write", "refusal_for_product", "refusal_for_use", "refusal_message"]
