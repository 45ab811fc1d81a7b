"""Whose credit record an org id names: a party of one role, not a bare name. Pure.

A buyer, a data holder and a compute center may carry the same name; their records are apart.
Rule, with the kinds of their ledger accounts (market/ledger):
  - "buyer:<id>" or the bare "<id>" is the buyer's record, kept under "<id>": the system records
    buyers' events under their ids (revoked grants, withheld outputs, grant violations, unpaid bills);
  - "holder:<id>" is the data holder's record and "compute_center:<id>" the compute center's, kept
    under those ids.
security/roles.py binds a party's certificate to its own record by the same rule.
"""

from __future__ import annotations

from shuniu.market.credit.score import ORG_ID

BUYER_KIND = "buyer"
PARTY_KINDS = (BUYER_KIND, "holder", "compute_center")
_FORMS = "'<id>' or 'buyer:<id>' for a buyer, 'holder:<id>' for a data holder, 'compute_center:<id>' for a compute center"


class OrgIdError(ValueError):
    """An org id that names no party's record; the message says what would be right."""


def party_org(org_id: str) -> str:
    """The id `org_id`'s record is kept under: "buyer:<id>" and "<id>" -> "<id>"; a holder's or center's as given."""
    if not ORG_ID.match(org_id):
        raise OrgIdError(f"org_id {org_id!r} is malformed; expected {_FORMS} (at most 128 characters of letters, "
                         "digits, '.', '_', ':' or '-', starting with a letter or digit)")
    kind, colon, owner = org_id.partition(":")
    if not colon:
        return org_id
    if kind not in PARTY_KINDS or not owner or ":" in owner:
        raise OrgIdError(f"org_id {org_id!r} names no party; expected {_FORMS}")
    return owner if kind == BUYER_KIND else org_id

