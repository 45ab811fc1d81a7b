"""Negative-list (负面清单) rules: which entry, if any, forbids a product or a use. Pure functions.

An entry matches when every field it sets matches and at least one is set. A product is
matched on what it holds and allows: a column tag of its schema, its grade, a job kind or a
purpose code it allows. A purpose category says nothing about a product (a product does not
choose who uses it for what), so an entry that sets one only ever matches uses (grants).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from shuniu.market._names import (
    GRADE_NAMES, JOB_KIND_NAMES, PURPOSE_CATEGORY_NAMES, expected, name_of,
)
from shuniu.protos.v1 import catalog_pb2, negative_list_pb2

Entry = negative_list_pb2.NegativeListEntry
_MAX_TEXT = 256


def check_entry(entry: Entry) -> None:
    """Raises ValueError naming the field when an entry to add is malformed."""
    if not (entry.column_tag or entry.job_kind or entry.purpose or entry.purpose_category or entry.grade):
        raise ValueError("entry sets nothing to match; expected at least one of column_tag, job_kind, purpose, "
                         "purpose_category, grade")
    if entry.job_kind and entry.job_kind not in JOB_KIND_NAMES:
        raise ValueError(f"entry.job_kind {entry.job_kind} unknown; expected one of {expected(JOB_KIND_NAMES)}")
    if entry.grade and entry.grade not in GRADE_NAMES:
        raise ValueError(f"entry.grade {entry.grade} unknown; expected one of {expected(GRADE_NAMES)}")
    if entry.purpose_category and entry.purpose_category not in PURPOSE_CATEGORY_NAMES:
        raise ValueError(f"entry.purpose_category {entry.purpose_category} unknown; "
                         f"expected one of {expected(PURPOSE_CATEGORY_NAMES)}")
    if not entry.reason.strip():
        raise ValueError("entry.reason is empty; expected why the item may not be traded (shown on every refusal)")
    for field in ("column_tag", "purpose", "reason", "legal_basis", "added_by"):
        if len(getattr(entry, field)) > _MAX_TEXT:
            raise ValueError(f"entry.{field} has {len(getattr(entry, field))} characters; expected at most {_MAX_TEXT}")


def refusal_for_product(entries: Sequence[Entry], spec: catalog_pb2.ProductSpec) -> Entry | None:
    """The first entry (by id) that forbids the product as registered, or None."""
    tags = {tag for column in spec.schema for tag in column.tags}
    kinds = set(spec.allowed_job_kinds)
    purposes = set(spec.allowed_purposes)
    for entry in sorted(entries, key=lambda e: e.entry_id):
        if entry.purpose_category:
            continue
        if ((not entry.column_tag or entry.column_tag in tags)
                and (not entry.grade or entry.grade == spec.grade)
                and (not entry.job_kind or entry.job_kind in kinds)
                and (not entry.purpose or entry.purpose in purposes)):
            return entry
    return None


def refusal_for_use(
    entries: Sequence[Entry], *, column_tags: Iterable[str], grade: int, job_kinds: Iterable[int], purpose: str,
    purpose_category: int,
) -> Entry | None:
    """The first entry (by id) that forbids this use of a product's columns, or None."""
    tags, kinds = set(column_tags), set(job_kinds)
    for entry in sorted(entries, key=lambda e: e.entry_id):
        if ((not entry.column_tag or entry.column_tag in tags)
                and (not entry.grade or entry.grade == grade)
                and (not entry.job_kind or entry.job_kind in kinds)
                and (not entry.purpose or entry.purpose == purpose)
                and (not entry.purpose_category or entry.purpose_category == purpose_category)):
            return entry
    return None


def describe(entry: Entry) -> str:
    """What an entry forbids, e.g. "column tag 'biometric' with job kind custom"."""
    parts = []
    if entry.column_tag:
        parts.append(f"column tag {entry.column_tag!r}")
    if entry.grade:
        parts.append(f"grade {name_of(GRADE_NAMES, entry.grade)}")
    if entry.job_kind:
        parts.append(f"job kind {name_of(JOB_KIND_NAMES, entry.job_kind)}")
    if entry.purpose:
        parts.append(f"purpose {entry.purpose!r}")
    if entry.purpose_category:
        parts.append(f"{name_of(PURPOSE_CATEGORY_NAMES, entry.purpose_category)} use")
    return " with ".join(parts)


def refusal_message(entry: Entry) -> str:
    """The refusal every caller shows: the entry id, what it forbids, its reason and legal basis."""
    basis = f"; legal basis: {entry.legal_basis}" if entry.legal_basis else ""
    return f"negative-list entry {entry.entry_id} forbids {describe(entry)}: {entry.reason}{basis}"
