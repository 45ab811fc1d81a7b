"""Checks of a JobSpec at the edge: pure functions that raise RequestError naming the field."""

from __future__ import annotations

import ast

from shuniu.nodes import topology
from shuniu.protos.v1 import common_pb2, jobs_pb2
from shuniu.scheduler.control_plane.errors import invalid
from shuniu.scheduler.jobs.queue_policy import MAX_PRIORITY
from shuniu.scheduler.placement import request as placement_request

MAX_RUNTIME_S = 24 * 3600
MAX_GANG_SIZE = 64
MAX_PRODUCTS = 16
MAX_CLAIMS = 100_000
MAX_SOURCE_BYTES = 1 << 20
MAX_MODEL_ITERATIONS = 10_000
MAX_RELAX_AFTER_S = 7 * 24 * 3600
# A job asks for at most one large node's worth per node: placement's own bounds, so that a spec
# admitted here never fails to become a PlacementRequest.
MAX_CPU_MILLI = placement_request.MAX_CPU_MILLI
MAX_MEMORY_MB = placement_request.MAX_MEMORY_MB
MAX_GPU = placement_request.MAX_GPU
MAX_PRICE_CAP_FEN = 10**12

TIERS = {common_pb2.TIER_T1: "T1", common_pb2.TIER_T2: "T2", common_pb2.TIER_T3: "T3", common_pb2.TIER_T4: "T4"}
# Job kind -> the JobSpec field holding its arguments (also the kind's name).
KIND_ARGS = {
    common_pb2.JOB_KIND_AGGREGATE: "aggregate",
    common_pb2.JOB_KIND_VERIFY: "verify",
    common_pb2.JOB_KIND_MODEL: "model",
    common_pb2.JOB_KIND_CUSTOM: "custom",
}
_CLASSES = {common_pb2.COMPUTE_CLASS_GENERAL, common_pb2.COMPUTE_CLASS_AI, common_pb2.COMPUTE_CLASS_HPC}


def parse_tier(text: str, field: str = "max_tier") -> int:
    """"T2" or "2" -> 2; anything else is refused with the accepted values."""
    value = text.strip().upper().removeprefix("T")
    if value.isdigit() and int(value) in TIERS:
        return int(value)
    raise invalid(f"{field} {text!r} unknown; expected one of {', '.join(TIERS.values())}")


def _in_range(value: int, low: int, high: int, field: str, hint: str = "") -> None:
    if not low <= value <= high:
        raise invalid(f"{field} is {value}; expected {low}..{high}{hint}")


def check_spec(spec: jobs_pb2.JobSpec) -> None:
    """Everything that can be checked without the store: shapes, ranges, names."""
    if not spec.grant_id:
        raise invalid("grant_id is empty; expected the id of an approved grant (see `shuniu grants ls`)")
    if spec.kind not in KIND_ARGS:
        raise invalid(f"kind {spec.kind} unknown; expected one of {', '.join(KIND_ARGS.values())}")
    args = spec.WhichOneof("args")
    if args != KIND_ARGS[spec.kind]:
        raise invalid(f"kind {KIND_ARGS[spec.kind]} needs its arguments in field {KIND_ARGS[spec.kind]!r}; "
                      f"got {args or 'none'}")
    _check_products(spec)
    _check_resources(spec)
    _check_tiers(spec)
    _in_range(spec.priority, 0, MAX_PRIORITY, "priority")
    _in_range(spec.max_runtime_s, 1, MAX_RUNTIME_S, "max_runtime_s", " seconds")
    _in_range(spec.gang_size, 0, MAX_GANG_SIZE, "gang_size", " (0 or 1: one node)")
    _in_range(spec.price_cap_fen, 1, MAX_PRICE_CAP_FEN, "price_cap_fen", " (the most the whole job may cost)")
    {"aggregate": _check_aggregate, "verify": _check_verify, "model": _check_model,
     "custom": _check_custom}[args](getattr(spec, args))


def _check_products(spec: jobs_pb2.JobSpec) -> None:
    if not spec.products:
        raise invalid("products is empty; expected at least one product the grant covers")
    _in_range(len(spec.products), 1, MAX_PRODUCTS, "number of products")
    seen = set()
    for i, product in enumerate(spec.products):
        if not product.product_id:
            raise invalid(f"products[{i}].product_id is empty")
        if product.product_id in seen:
            raise invalid(f"products[{i}].product_id {product.product_id!r} is named twice")
        seen.add(product.product_id)


def _check_resources(spec: jobs_pb2.JobSpec) -> None:
    r = spec.resources
    _in_range(r.cpu_milli, 1, MAX_CPU_MILLI, "resources.cpu_milli", " (1000 = one core)")
    _in_range(r.memory_mb, 1, MAX_MEMORY_MB, "resources.memory_mb")
    _in_range(r.gpu, 0, MAX_GPU, "resources.gpu")
    if spec.compute_class not in _CLASSES | {common_pb2.COMPUTE_CLASS_UNSPECIFIED}:
        raise invalid(f"compute_class {spec.compute_class} unknown; expected general, ai or hpc")
    if r.gpu and spec.compute_class not in (common_pb2.COMPUTE_CLASS_AI, common_pb2.COMPUTE_CLASS_UNSPECIFIED):
        raise invalid("resources.gpu > 0 needs compute_class ai")


def _check_tiers(spec: jobs_pb2.JobSpec) -> None:
    if spec.anchor_site and spec.anchor_site not in topology.site_ids():
        raise invalid(f"anchor_site {spec.anchor_site!r} unknown; expected a site id such as zhengzhou "
                      "(see `shuniu topology`), or empty for the data's site")
    if spec.max_tier not in TIERS:
        raise invalid(f"max_tier {spec.max_tier} unknown; expected one of {', '.join(TIERS.values())}")
    if spec.preferred_tier and spec.preferred_tier not in TIERS:
        raise invalid(f"preferred_tier {spec.preferred_tier} unknown; expected one of {', '.join(TIERS.values())}")
    if spec.preferred_tier > spec.max_tier:
        raise invalid(f"preferred_tier {TIERS[spec.preferred_tier]} is farther than max_tier {TIERS[spec.max_tier]}; "
                      "expected preferred_tier <= max_tier")
    _in_range(spec.relax_after_s, 0, MAX_RELAX_AFTER_S, "relax_after_s")


def _check_aggregate(args: jobs_pb2.AggregateArgs) -> None:
    if not args.aggregations:
        raise invalid("aggregate.aggregations is empty; expected at least one (count, sum, mean, quantile)")
    names = set()
    for i, agg in enumerate(args.aggregations):
        if agg.function not in (1, 2, 3, 4):
            raise invalid(f"aggregate.aggregations[{i}].function {agg.function} unknown; "
                          "expected count, sum, mean or quantile")
        if agg.function != jobs_pb2.AGGREGATE_FUNCTION_COUNT and not agg.column:
            raise invalid(f"aggregate.aggregations[{i}].column is empty; sum, mean and quantile need a column")
        if agg.function == jobs_pb2.AGGREGATE_FUNCTION_QUANTILE:
            # Whole percentiles: the sandbox computes p1 .. p99.
            if agg.quantile_bp % 100:
                raise invalid(f"aggregate.aggregations[{i}].quantile_bp is {agg.quantile_bp}; expected a whole "
                              "percentile: a multiple of 100 from 100 to 9900 (5000 = median)")
            _in_range(agg.quantile_bp, 100, 9_900, f"aggregate.aggregations[{i}].quantile_bp", " (5000 = median)")
        name = output_name(agg)
        if name in names or name in args.group_by:
            raise invalid(f"aggregate output column {name!r} appears twice; set output_name")
        names.add(name)
    if len(set(args.group_by)) != len(args.group_by):
        raise invalid("aggregate.group_by names a column twice")
    _in_range(args.min_group_size, 0, 1_000_000, "aggregate.min_group_size")
    _in_range(args.dp_epsilon_milli, 0, 100_000, "aggregate.dp_epsilon_milli", " (thousandths of ε)")


def normalize(spec: jobs_pb2.JobSpec) -> None:
    """Fills in defaults, so that what is stored and sent to the node is explicit."""
    if not spec.compute_class:
        spec.compute_class = common_pb2.COMPUTE_CLASS_GENERAL
    if not spec.preferred_tier:
        spec.preferred_tier = spec.max_tier
    if spec.gang_size == 0:
        spec.gang_size = 1
    if spec.WhichOneof("args") == "aggregate":
        for agg in spec.aggregate.aggregations:
            agg.output_name = output_name(agg)
    if spec.WhichOneof("args") == "custom" and not spec.custom.entrypoint:
        spec.custom.entrypoint = "run"


def output_name(agg: jobs_pb2.Aggregation) -> str:
    if agg.output_name:
        return agg.output_name
    function = jobs_pb2.AggregateFunction.Name(agg.function).removeprefix("AGGREGATE_FUNCTION_").lower()
    if agg.function == jobs_pb2.AGGREGATE_FUNCTION_QUANTILE:
        function = f"p{agg.quantile_bp / 100:g}"
    return f"{function}_{agg.column}" if agg.column else function


def _check_verify(args: jobs_pb2.VerifyArgs) -> None:
    _in_range(len(args.claims), 1, MAX_CLAIMS, "number of verify.claims")
    ids = set()
    for i, claim in enumerate(args.claims):
        where = f"verify.claims[{i}]"
        if not claim.claim_id or claim.claim_id in ids:
            raise invalid(f"{where}.claim_id is empty or repeated; expected a unique id per claim")
        ids.add(claim.claim_id)
        if not claim.key_column or not claim.key_value:
            raise invalid(f"{where} needs key_column and key_value (the record the claim is about)")
        op = claim.operator
        if op not in (1, 2, 3, 4):
            raise invalid(f"{where}.operator {op} unknown; expected equals, in_range, in_set or exists")
        if op != jobs_pb2.CLAIM_OPERATOR_EXISTS and not claim.column:
            raise invalid(f"{where}.column is empty; equals, in_range and in_set need the attribute's column")
        if op == jobs_pb2.CLAIM_OPERATOR_IN_RANGE and not (claim.low or claim.high):
            raise invalid(f"{where} is in_range but sets neither low nor high")
        if op == jobs_pb2.CLAIM_OPERATOR_IN_SET and not claim.values:
            raise invalid(f"{where} is in_set but values is empty")


def _check_model(args: jobs_pb2.ModelArgs) -> None:
    if args.model_type not in (1, 2):
        raise invalid(f"model.model_type {args.model_type} unknown; expected linear_regression or logistic_regression")
    if not args.feature_columns or not args.label_column:
        raise invalid("model needs feature_columns and a label_column")
    if args.label_column in args.feature_columns:
        raise invalid(f"model.label_column {args.label_column!r} is also a feature")
    _in_range(args.max_iterations, 0, MAX_MODEL_ITERATIONS, "model.max_iterations")
    if not args.l2_penalty >= 0:
        raise invalid(f"model.l2_penalty is {args.l2_penalty}; expected >= 0")


def _check_custom(args: jobs_pb2.CustomArgs) -> None:
    if args.analysis_id:
        # An approved analysis: the exchange supplies its code at admission (market/analyses/use.py checks any
        # source or hash the buyer pins against the approved one, and the parameter values).
        _in_range(len(args.analysis_id), 1, 64, "custom.analysis_id length")
        _in_range(len(args.parameters), 0, 32, "number of custom.parameters")
        if args.output_schema or args.parameter_values:
            raise invalid("custom.output_schema and custom.parameter_values are set by the exchange from the approved "
                          "analysis; expected them empty (give parameters as custom.parameters)")
        return
    size = len(args.source.encode())
    _in_range(size, 1, MAX_SOURCE_BYTES, "custom.source size in bytes")
    entry = args.entrypoint or "run"
    try:
        tree = ast.parse(args.source, "<custom>")
    except SyntaxError as err:
        raise invalid(f"custom.source does not parse: line {err.lineno}: {err.msg}") from None
    defined = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
    if entry not in defined:
        raise invalid(f"custom.source does not define `def {entry}(table)`; expected a top-level function "
                      f"{entry} that takes and returns a pyarrow.Table")
