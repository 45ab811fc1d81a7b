"""Proposals and decisions of analyses: what a proposal must hold, who decides, how it moves. Pure.

An analysis is bound to one product and to its code by the SHA-256 of the source: approval
is of that hash, so a later change of a byte is another analysis. Who decides is the product's
policy (`ProductSpec.analysis_approver`): its holder by default, or the exchange's operator.
"""

from __future__ import annotations

import ast
import hashlib

from shuniu.market.analyses.errors import DENIED, PRECONDITION, AnalysisRefusal, invalid
from shuniu.market.analyses.params import check_declarations, check_output_schema
from shuniu.protos.v1 import analyses_pb2, catalog_pb2

A = analyses_pb2
PROPOSED, APPROVED, REJECTED = A.ANALYSIS_STATE_PROPOSED, A.ANALYSIS_STATE_APPROVED, A.ANALYSIS_STATE_REJECTED
HOLDER, OPERATOR = A.ANALYSIS_APPROVER_HOLDER, A.ANALYSIS_APPROVER_OPERATOR
MAX_SOURCE_BYTES = 1 << 20
_MAX_NAME = 128
_MAX_DESCRIPTION = 2000
_MAX_REASON = 512
_HEX = frozenset("0123456789abcdef")
_PROPOSABLE = (catalog_pb2.PRODUCT_STATE_UNDER_REVIEW, catalog_pb2.PRODUCT_STATE_LISTED)


def code_sha256(source: str) -> str:
    """Hex SHA-256 of the source's UTF-8 bytes: the identity an approval binds."""
    return hashlib.sha256(source.encode()).hexdigest()


def approver_of(product: catalog_pb2.Product) -> int:
    """Who decides the product's analyses: its policy, the holder when the policy is unset."""
    return OPERATOR if product.spec.analysis_approver == OPERATOR else HOLDER


def check_proposal(spec: analyses_pb2.AnalysisSpec, product: catalog_pb2.Product | None) -> analyses_pb2.AnalysisSpec:
    """The spec as it will be stored (hash filled in), or a refusal naming the field."""
    if product is None:
        raise AnalysisRefusal("NOT_FOUND", "unknown_product", f"product {spec.product_id!r} not found; expected a "
                              "listed product (see `shuniu products ls`)")
    if product.state not in _PROPOSABLE:
        # Under review is allowed: a holder may have its analyses approved before the product is listed.
        raise AnalysisRefusal(PRECONDITION, "product_state", f"product {spec.product_id!r} is "
                              f"{catalog_pb2.ProductState.Name(product.state)}; analyses are proposed for verified "
                              "products, UNDER_REVIEW or LISTED")
    if not spec.name.strip() or len(spec.name) > _MAX_NAME:
        raise invalid("name", f"name has {len(spec.name.strip())} characters; expected 1-{_MAX_NAME}")
    if len(spec.description) > _MAX_DESCRIPTION:
        raise invalid("description", f"description has {len(spec.description)} characters; expected at most "
                      f"{_MAX_DESCRIPTION}")
    check_output_schema(spec.output_schema)
    check_declarations(spec.parameters)
    _check_source(spec)
    stored = analyses_pb2.AnalysisSpec()
    stored.CopyFrom(spec)
    stored.code_sha256 = code_sha256(spec.source)
    if spec.code_sha256 and spec.code_sha256.lower() != stored.code_sha256:
        raise AnalysisRefusal("INVALID_ARGUMENT", "code_hash", f"code_sha256 {spec.code_sha256[:16]}… does not match "
                              f"the source (its SHA-256 is {stored.code_sha256}); expected the hash of the UTF-8 "
                              "source, or leave it empty")
    return stored


def _check_source(spec: analyses_pb2.AnalysisSpec) -> None:
    size = len(spec.source.encode())
    if not 0 < size <= MAX_SOURCE_BYTES:
        raise invalid("source", f"source is {size} bytes; expected 1-{MAX_SOURCE_BYTES} bytes of Python")
    try:
        tree = ast.parse(spec.source, "<analysis>")
    except SyntaxError as err:
        raise invalid("source", f"source does not parse: line {err.lineno}: {err.msg}") from None
    run = next((n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "run"), None)
    if run is None:
        raise invalid("source", "source does not define `def run(table, **params)`; expected a top-level function "
                      "run that takes a pyarrow.Table and the declared parameters as keywords")
    takes = {a.arg for a in run.args.args + run.args.kwonlyargs}
    missing = [d.name for d in spec.parameters if d.name not in takes]
    if missing and run.args.kwarg is None:
        raise invalid("source", f"run() does not take parameter {missing[0]!r}; expected run(table, "
                      f"{', '.join(d.name for d in spec.parameters)})")


def new_analysis(analysis_id: str, request_id: str, spec: analyses_pb2.AnalysisSpec, product: catalog_pb2.Product,
                 proposed_by: str, now_ms: int) -> analyses_pb2.Analysis:
    return analyses_pb2.Analysis(analysis_id=analysis_id, spec=spec, state=PROPOSED, state_reason="proposed",
                                 proposed_by=proposed_by, holder_id=product.spec.holder_id,
                                 approver=approver_of(product), proposed_unix_ms=now_ms, request_id=request_id)


def check_decider(product: catalog_pb2.Product, role: str | None, name: str) -> None:
    """Refuses (PERMISSION_DENIED naming the rule) a decider the product's policy does not name.

    `role` is None on a stack without certificates, where no caller is authenticated and every
    call acts as the operator (as every other decision there does).
    """
    approver = approver_of(product)
    if role is None:
        return
    if approver == OPERATOR and role == "operator":
        return
    if approver == HOLDER and role == "data_holder" and name == product.spec.holder_id:
        return
    who = "the exchange's operator" if approver == OPERATOR else f"its holder {product.spec.holder_id!r}"
    raise AnalysisRefusal(DENIED, "analysis_approver", f"rule analysis-approver: analyses of product "
                          f"{product.product_id!r} are decided by {who} (the product's policy); {role} {name!r} "
                          "may not decide them")


def approve(analysis: analyses_pb2.Analysis, *, decider: str, reviewed_sha256: str, note: str,
            now_ms: int) -> analyses_pb2.Analysis:
    """Approves a proposed analysis, if the hash the decider reviewed is the analysis's."""
    _require_proposed(analysis, "approved")
    if reviewed_sha256.strip().lower() != analysis.spec.code_sha256:
        shown = reviewed_sha256.strip().lower()
        malformed = len(shown) != 64 or not set(shown) <= _HEX
        raise AnalysisRefusal("INVALID_ARGUMENT" if malformed else PRECONDITION, "code_hash",
                              f"code_sha256 {'is malformed' if malformed else 'does not match the analysis'}; approval "
                              f"binds the code reviewed: expected {analysis.spec.code_sha256} (see `shuniu analyses "
                              f"show {analysis.analysis_id}`)")
    return _decided(analysis, APPROVED, _reason("approved", note, "note", required=False), decider, now_ms)


def reject(analysis: analyses_pb2.Analysis, *, decider: str, reason: str, now_ms: int) -> analyses_pb2.Analysis:
    _require_proposed(analysis, "rejected")
    return _decided(analysis, REJECTED, _reason("rejected", reason, "reason", required=True), decider, now_ms)


def _require_proposed(analysis: analyses_pb2.Analysis, verb: str) -> None:
    if analysis.state != PROPOSED:
        state = A.AnalysisState.Name(analysis.state).removeprefix("ANALYSIS_STATE_")
        raise AnalysisRefusal(PRECONDITION, f"state:{state.lower()}", f"analysis {analysis.analysis_id} is {state} "
                              f"({analysis.state_reason}); only a PROPOSED analysis can be {verb}: propose the code "
                              "again for a new decision")


def _decided(analysis: analyses_pb2.Analysis, state: int, reason: str, decider: str,
             now_ms: int) -> analyses_pb2.Analysis:
    decided = analyses_pb2.Analysis()
    decided.CopyFrom(analysis)
    decided.state, decided.state_reason, decided.decided_by, decided.decided_unix_ms = state, reason, decider, now_ms
    return decided


def _reason(code: str, text: str, field: str, required: bool) -> str:
    text = text.strip()
    if required and not text:
        raise invalid(field, f"{field} is empty; expected why, in 1-{_MAX_REASON} characters (kept on the analysis)")
    if len(text) > _MAX_REASON:
        raise invalid(field, f"{field} has {len(text)} characters; expected at most {_MAX_REASON}")
    return f"{code}: {text}" if text else code
