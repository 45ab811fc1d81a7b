"""How a node runs one attempt of a job: the sandbox job, its limits and its egress policy. Pure.

Translates the exchange's `NodeRunRequest` (the job's spec, the granted inputs and the
grant's egress profile) into what the sandbox runner takes. Job specs were checked at
submission; a ValueError here means the data does not fit the job (an unknown column).
"""

from __future__ import annotations

import dataclasses
import hashlib

from shuniu.nodes.answer_budget import bounds_of, dp_fields
from shuniu.nodes.sandbox import EgressPolicy, SandboxJob, SandboxLimits
from shuniu.nodes.sandbox.types import MAX_MODEL_ITERATIONS, aggregate_job, custom_job, model_job, verify_job
from shuniu.protos.v1 import jobs_pb2, runs_pb2

DEFAULT_MIN_GROUP_ROWS = 5
DEFAULT_MAX_OUTPUT_ROWS = 10_000
DEFAULT_MAX_OUTPUT_BYTES = 16 << 20
_FUNCTIONS = {jobs_pb2.AGGREGATE_FUNCTION_COUNT: "count", jobs_pb2.AGGREGATE_FUNCTION_SUM: "sum",
              jobs_pb2.AGGREGATE_FUNCTION_MEAN: "mean"}
_MODELS = {jobs_pb2.MODEL_TYPE_LINEAR_REGRESSION: "linear", jobs_pb2.MODEL_TYPE_LOGISTIC_REGRESSION: "logistic"}


@dataclasses.dataclass(frozen=True)
class RunPlan:
    job: SandboxJob
    limits: SandboxLimits
    policy: EgressPolicy
    # Output column renames (sandbox name -> the name the buyer asked for).
    renames: dict[str, str]
    # For verify: claim id of each sandbox claim, several when an in_set claim was expanded.
    claim_ids: tuple[str, ...] = ()
    # For an approved analysis: its output contract, (column name, Arrow type) in order.
    output_contract: tuple[tuple[str, str], ...] = ()


def _aggregate(args: jobs_pb2.AggregateArgs, columns: list[str]) -> tuple[SandboxJob, dict[str, str], list[str]]:
    """The sandbox job, the renames to the asked output names, and the columns noise may go on."""
    pairs, renames, noisy = [], {}, []
    for agg in args.aggregations:
        # A bare count counts rows: any column with no nulls will do, a grouping key first.
        column = agg.column or (list(args.group_by) or columns)[0]
        if agg.function == jobs_pb2.AGGREGATE_FUNCTION_QUANTILE:
            function = f"p{agg.quantile_bp // 100}"
        else:
            function = _FUNCTIONS[agg.function]
        pairs.append((column, function))
        sandbox_name = f"{column}_{function}"
        # Output names were filled in at submission (scheduler/jobs/spec_rules.py normalize).
        renames[sandbox_name] = agg.output_name or sandbox_name
        if agg.function != jobs_pb2.AGGREGATE_FUNCTION_COUNT:
            noisy.append(sandbox_name)
    return aggregate_job(list(args.group_by), pairs), renames, noisy


def _verify(args: jobs_pb2.VerifyArgs) -> tuple[SandboxJob, tuple[str, ...]]:
    claims, ids = [], []
    for claim in args.claims:
        key = (claim.key_column, "==", claim.key_value)
        op = claim.operator
        if op == jobs_pb2.CLAIM_OPERATOR_EXISTS:
            alternatives = [[key]]
        elif op == jobs_pb2.CLAIM_OPERATOR_EQUALS:
            alternatives = [[key, (claim.column, "==", claim.value)]]
        elif op == jobs_pb2.CLAIM_OPERATOR_IN_RANGE:
            bounds = ([(claim.column, ">=", claim.low)] if claim.low else []) + \
                     ([(claim.column, "<=", claim.high)] if claim.high else [])
            alternatives = [[key, *bounds]]
        else:  # in_set: one sandbox claim per value, answered together as "any"
            alternatives = [[key, (claim.column, "==", value)] for value in claim.values]
        claims += alternatives
        ids += [claim.claim_id] * len(alternatives)
    return verify_job(claims), tuple(ids)


def _custom(args: jobs_pb2.CustomArgs) -> tuple[SandboxJob, tuple[tuple[str, str], ...]]:
    """The buyer's own code (public products), or an approved analysis: its code, which must still hash to the
    approved hash, run as run(table, **params), and its output contract."""
    if not args.analysis_id:
        return custom_job(args.source if not args.entrypoint or args.entrypoint == "run"
                          else f"{args.source}\n\nrun = {args.entrypoint}\n"), ()
    if hashlib.sha256(args.source.encode()).hexdigest() != args.code_sha256:
        raise ValueError(f"code_hash: the code of analysis {args.analysis_id} does not hash to its approved "
                         "code_sha256; it does not run")
    params = {v.name: getattr(v, v.WhichOneof("value")) for v in args.parameter_values}
    return custom_job(args.source, params), tuple((c.name, c.arrow_type) for c in args.output_schema)


def plan_run(request: runs_pb2.NodeRunRequest) -> RunPlan:
    spec, egress = request.spec, request.egress
    columns = [c for i in request.inputs for c in i.columns]
    kind = spec.WhichOneof("args")
    renames: dict[str, str] = {}
    claim_ids: tuple[str, ...] = ()
    min_group = max(egress.min_group_size or DEFAULT_MIN_GROUP_ROWS,
                    spec.aggregate.min_group_size if kind == "aggregate" else 0)
    policy_fields = dict(min_group_rows=min_group, max_rows=egress.max_output_rows or DEFAULT_MAX_OUTPUT_ROWS,
                         max_bytes=egress.max_output_bytes or DEFAULT_MAX_OUTPUT_BYTES)
    if kind == "aggregate":
        job, renames, _ = _aggregate(spec.aggregate, columns)
        policy_fields.update(require_group_rows=True, suppress_small_groups=True)
        if request.dp_epsilon_milli:  # every released value is noised, by what one record can move it
            bounds = {c: b for i in request.inputs for c, b in bounds_of(i).items()}
            policy_fields.update(dp_fields(job, bounds, int(request.dp_epsilon_milli), min_group))
    elif kind == "verify":
        job, claim_ids = _verify(spec.verify)
        policy_fields.update(booleans_only=True, max_rows=max(policy_fields["max_rows"], len(claim_ids)))
    elif kind == "model":
        m = spec.model
        # Newton steps converge in far fewer than the sandbox's cap; more would only cost CPU.
        iterations = min(m.max_iterations or MAX_MODEL_ITERATIONS, MAX_MODEL_ITERATIONS)
        job = model_job(_MODELS[m.model_type], list(m.feature_columns), m.label_column, iterations, m.l2_penalty)
    else:
        job, contract = _custom(spec.custom)
    wall_s = float(min(spec.max_runtime_s or 60, 24 * 3600))
    limits = SandboxLimits(cpu_s=max(1, int(wall_s)), wall_timeout_s=wall_s,
                           memory_bytes=max(1 << 30, spec.resources.memory_mb << 20),
                           max_output_bytes=policy_fields["max_bytes"] or DEFAULT_MAX_OUTPUT_BYTES)
    return RunPlan(job, limits, EgressPolicy(**policy_fields), renames, claim_ids,
                   contract if kind == "custom" else ())
