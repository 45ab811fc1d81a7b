"""Whether a custom job may run: free code on public products, approved analyses above. Pure.

`resolve_custom` is the admission rule (rule approved-analysis): custom code on a product of
grade internal, sensitive or core runs only as an analysis that is APPROVED, for that product,
named by the job's grant, whose stored code still hashes to the approved hash, with parameter
values its declarations allow. It returns the custom arguments the job is stored and run with:
the approved source, its hash, the output contract and the typed values. The buyer supplies
only the analysis id and the values.
"""

from __future__ import annotations

from collections.abc import Mapping

from shuniu.market._names import GRADE_NAMES, name_of
from shuniu.market.analyses.errors import INVALID, NOT_FOUND, PRECONDITION, AnalysisRefusal
from shuniu.market.analyses.params import parse_values
from shuniu.market.analyses.rules import APPROVED, code_sha256
from shuniu.protos.v1 import analyses_pb2, catalog_pb2, common_pb2, grants_pb2, jobs_pb2

PUBLIC = common_pb2.CLASSIFICATION_GRADE_PUBLIC


def needs_analysis(products: Mapping[str, catalog_pb2.Product]) -> catalog_pb2.Product | None:
    """The first product (by id) above public grade among those given, or None: custom code on it needs an analysis."""
    above = [p for _, p in sorted(products.items()) if p.spec.grade > PUBLIC]
    return above[0] if above else None


def resolve_custom(spec: jobs_pb2.JobSpec, grant: grants_pb2.Grant | None,
                   products: Mapping[str, catalog_pb2.Product],
                   analysis: analyses_pb2.Analysis | None) -> jobs_pb2.CustomArgs:
    """The custom arguments to store and run, or an AnalysisRefusal naming the rule.

    `products` holds the job's products that exist; a missing product or grant is left to
    admission to refuse (NOT_FOUND), so this rule speaks only about what it checks.
    """
    args = spec.custom
    if not args.analysis_id:
        _refuse_half_analysis(args)
        above = needs_analysis({p.product_id: products[p.product_id] for p in spec.products
                                if p.product_id in products})
        if above is not None:
            raise AnalysisRefusal(PRECONDITION, "approved_analysis_required",
                                  f"rule approved-analysis: product {above.product_id!r} is "
                                  f"{name_of(GRADE_NAMES, above.spec.grade)}; custom code on a product above public "
                                  "runs only as an approved analysis named by the grant: set custom.analysis_id "
                                  f"(see `shuniu analyses ls --product {above.product_id}`) and no source")
        return args
    if analysis is None:
        raise AnalysisRefusal(NOT_FOUND, "analysis_not_found", f"analysis {args.analysis_id!r} not found; see "
                              "`shuniu analyses ls`")
    _check_scope(spec, grant, analysis)
    _check_code(args, analysis)
    resolved = jobs_pb2.CustomArgs(analysis_id=analysis.analysis_id, source=analysis.spec.source, entrypoint="run",
                                   code_sha256=analysis.spec.code_sha256, parameters=args.parameters,
                                   output_schema=analysis.spec.output_schema)
    resolved.parameter_values.extend(parse_values(analysis.spec.parameters, dict(args.parameters)))
    return resolved


def _refuse_half_analysis(args: jobs_pb2.CustomArgs) -> None:
    for field in ("parameters", "output_schema", "parameter_values"):
        if len(getattr(args, field)):
            raise AnalysisRefusal(INVALID, "invalid:custom", f"custom.{field} is set without custom.analysis_id; "
                                  "expected parameters only for an approved analysis")


def _check_scope(spec: jobs_pb2.JobSpec, grant: grants_pb2.Grant | None, analysis: analyses_pb2.Analysis) -> None:
    aid, product_id = analysis.analysis_id, analysis.spec.product_id
    if analysis.state != APPROVED:
        state = analyses_pb2.AnalysisState.Name(analysis.state).removeprefix("ANALYSIS_STATE_")
        raise AnalysisRefusal(PRECONDITION, "analysis_not_approved", f"rule approved-analysis: analysis {aid} is "
                              f"{state}; only an APPROVED analysis runs")
    read = [p.product_id for p in spec.products]
    if read != [product_id]:
        raise AnalysisRefusal(PRECONDITION, "analysis_product", f"rule approved-analysis: analysis {aid} is approved "
                              f"for product {product_id!r} alone; the job reads {', '.join(map(repr, read))}")
    if grant is not None and aid not in grant.spec.analysis_ids:
        named = ", ".join(grant.spec.analysis_ids) or "none"
        raise AnalysisRefusal(PRECONDITION, "analysis_not_granted", f"rule approved-analysis: grant "
                              f"{grant.grant_id} does not name analysis {aid}; it names {named} (apply for a grant "
                              f"with --analysis {aid})")


def _check_code(args: jobs_pb2.CustomArgs, analysis: analyses_pb2.Analysis) -> None:
    approved = analysis.spec.code_sha256
    if code_sha256(analysis.spec.source) != approved:
        # The stored source no longer hashes to what was approved: never run it.
        raise AnalysisRefusal(PRECONDITION, "code_hash", f"rule approved-analysis: the stored code of analysis "
                              f"{analysis.analysis_id} does not hash to its approved code_sha256; it will not run")
    if args.code_sha256 and args.code_sha256.lower() != approved:
        raise AnalysisRefusal(PRECONDITION, "code_hash", f"rule approved-analysis: custom.code_sha256 does not match "
                              f"the approved code of analysis {analysis.analysis_id} ({approved})")
    if args.source and code_sha256(args.source) != approved:
        raise AnalysisRefusal(PRECONDITION, "code_hash", f"rule approved-analysis: custom.source is not the approved "
                              f"code of analysis {analysis.analysis_id} (its SHA-256 differs from {approved}); leave "
                              "source empty, the exchange runs the approved code")
    if args.entrypoint not in ("", "run"):
        raise AnalysisRefusal(INVALID, "invalid:custom.entrypoint", f"custom.entrypoint is {args.entrypoint!r}; an "
                              "analysis runs its approved run(table, **params)")
