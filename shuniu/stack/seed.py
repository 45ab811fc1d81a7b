"""Seed data of the local stack: three realistic synthetic data products and a default negative list.

On first run the files are generated (deterministically) under the stack's state directory,
as if held on simulated nodes of the right city; `seed_stack` registers them, and the
simulated fleet's verifier checks them like any node would, so they reach LISTED (or
UNDER_REVIEW for the sensitive one) through real verification.
"""

from __future__ import annotations

import pathlib
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import grpc
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from shuniu.client import Client, new_request_id
from shuniu.nodes.agent import NodeSpec
from shuniu.nodes.product_verify import content_sha256
from shuniu.protos.v1 import analyses_pb2, catalog_pb2, common_pb2, negative_list_pb2

# Henan's prefecture cities and Jiyuan with their administrative division codes (行政区划代码).
CITY_CODES = {
    "zhengzhou": "4101", "kaifeng": "4102", "luoyang": "4103", "pingdingshan": "4104", "anyang": "4105",
    "hebi": "4106", "xinxiang": "4107", "jiaozuo": "4108", "puyang": "4109", "xuchang": "4110", "luohe": "4111",
    "sanmenxia": "4112", "nanyang": "4113", "shangqiu": "4114", "xinyang": "4115", "zhoukou": "4116",
    "zhumadian": "4117", "jiyuan": "4190",
}
_CITIES = list(CITY_CODES)
# Rough share of each city in the province's economy, for realistic skew.
_CITY_WEIGHTS = np.array([20, 4, 9, 4, 4, 1.5, 5, 3, 3, 5, 2, 2, 6, 4, 4, 4, 4, 1.5])
_CREDIT_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_CREDIT_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
SEED = 20251123


def credit_code(city: str, body: str) -> str:
    """A unified social credit code (统一社会信用代码, GB 32100-2015) with its check character."""
    head = "91" + CITY_CODES[city] + "00" + body
    total = sum(_CREDIT_CHARS.index(c) * w for c, w in zip(head, _CREDIT_WEIGHTS))
    return head + _CREDIT_CHARS[(31 - total % 31) % 31]


def _cities(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.choice(np.array(_CITIES), size=n, p=_CITY_WEIGHTS / _CITY_WEIGHTS.sum())


def electricity_table(rng: np.random.Generator, enterprises: int = 2000, months: int = 12) -> pa.Table:
    """Monthly electricity use of enterprises across Henan's cities, kWh."""
    city = _cities(rng, enterprises)
    body = rng.choice(np.array(list(_CREDIT_CHARS)), size=(enterprises, 9))
    codes = [credit_code(c, "".join(b)) for c, b in zip(city, body)]
    industries = np.array(["manufacturing", "chemicals", "metals", "data_center", "food", "textiles", "logistics", "retail"])
    industry = rng.choice(industries, size=enterprises, p=[.3, .1, .1, .05, .15, .1, .1, .1])
    base_kwh = rng.lognormal(mean=11.5, sigma=1.2, size=enterprises)
    rows = enterprises * months
    month = np.repeat(np.arange(months), enterprises)
    seasonal = 1.0 + 0.25 * np.cos((month - 6.5) / 12 * 2 * np.pi)  # summer and winter peaks
    kwh = (np.tile(base_kwh, months) * seasonal * rng.normal(1.0, 0.08, rows)).clip(100).astype(np.int64)
    return pa.table({
        "enterprise_credit_code": pa.array(np.tile(codes, months), pa.string()),
        "city": pa.array(np.tile(city, months), pa.string()),
        "industry": pa.array(np.tile(industry, months), pa.string()),
        "month": pa.array([f"2025-{m + 1:02d}" for m in month], pa.string()),
        "kwh": pa.array(kwh, pa.int64()),
        "peak_kwh": pa.array((kwh * rng.uniform(0.3, 0.6, rows)).astype(np.int64), pa.int64()),
    })


def waybill_table(rng: np.random.Generator, rows: int = 50_000) -> pa.Table:
    """Logistics waybills between Henan's cities: route, weight and fee."""
    origin, destination = _cities(rng, rows), _cities(rng, rows)
    weight_kg = np.round(rng.lognormal(mean=2.0, sigma=1.3, size=rows), 2)
    same_city = origin == destination
    fee_fen = (800 + weight_kg * np.where(same_city, 60, 180) + rng.integers(0, 300, rows)).astype(np.int64)
    start = np.datetime64("2025-01-01")
    return pa.table({
        "waybill_id": pa.array([f"ZY{2025_0000_0000 + i * 7919 % 1_000_000_007:012d}" for i in range(rows)], pa.string()),
        "origin_city": pa.array(origin, pa.string()),
        "destination_city": pa.array(destination, pa.string()),
        "ship_date": pa.array(start + rng.integers(0, 365, rows).astype("timedelta64[D]"), pa.date32()),
        "weight_kg": pa.array(weight_kg, pa.float64()),
        "fee_fen": pa.array(fee_fen, pa.int64()),
        "carrier": pa.array(rng.choice(np.array(["zhongyuan-express", "yuxin-freight", "henan-post", "central-cold-chain"]),
                                       rows), pa.string()),
    })


def claims_table(rng: np.random.Generator, rows: int = 20_000, patients: int = 8_000) -> pa.Table:
    """Medical-insurance claims: patient, diagnosis (ICD-10) and amounts; diagnosis and amounts are sensitive."""
    patient = rng.integers(0, patients, rows)
    icd = np.array(["E11.9", "I10", "J18.9", "K29.7", "M54.5", "N18.3", "C34.9", "I63.9", "J44.1", "O80"])
    diagnosis = rng.choice(icd, rows, p=[.18, .2, .1, .1, .12, .05, .03, .07, .1, .05])
    amount_fen = (rng.lognormal(mean=12.0, sigma=1.0, size=rows)).astype(np.int64)
    level = rng.choice(np.array(["tertiary", "secondary", "primary"]), rows, p=[.45, .35, .2])
    ratio = np.select([level == "tertiary", level == "secondary"], [0.7, 0.8], 0.9)
    start = np.datetime64("2025-01-01")
    return pa.table({
        "claim_id": pa.array([f"YB41{i:010d}" for i in range(rows)], pa.string()),
        "patient_id": pa.array([f"P41{p:08d}" for p in patient], pa.string()),
        "city": pa.array(_cities(rng, patients)[patient], pa.string()),
        "hospital_level": pa.array(level, pa.string()),
        "age_band": pa.array(rng.choice(np.array(["0-17", "18-39", "40-59", "60-74", "75+"]), patients)[patient], pa.string()),
        "claim_date": pa.array(start + rng.integers(0, 365, rows).astype("timedelta64[D]"), pa.date32()),
        "diagnosis_code": pa.array(diagnosis, pa.string()),
        "amount_fen": pa.array(amount_fen, pa.int64()),
        "reimbursed_fen": pa.array((amount_fen * ratio).astype(np.int64), pa.int64()),
    })


def _right(*shares: tuple[str, int]) -> catalog_pb2.Right:
    return catalog_pb2.Right(holders=[catalog_pb2.RightShare(holder_id=h, share_bp=bp) for h, bp in shares])


def _columns(schema: pa.Schema, tags: dict[str, list[str]], described: dict[str, str]) -> list[catalog_pb2.Column]:
    return [catalog_pb2.Column(name=f.name, arrow_type=str(f.type), nullable=False, tags=tags.get(f.name, []),
                               description=described.get(f.name, "")) for f in schema]


def electricity_spec(schema: pa.Schema) -> catalog_pb2.ProductSpec:
    """Public data under authorized operation (公共数据授权运营): free for public-interest use, guided price otherwise."""
    return catalog_pb2.ProductSpec(
        holder_id="zhengzhou-data-group", name="Enterprise electricity use by city, 2025",
        description="Monthly electricity use (kWh, with peak-hour kWh) of 2,000 enterprises across Henan's cities.",
        category="energy", grade=common_pb2.CLASSIFICATION_GRADE_PUBLIC, home_site="zhengzhou",
        schema=_columns(schema, {"enterprise_credit_code": ["enterprise_id"]},
                        {"enterprise_credit_code": "unified social credit code (统一社会信用代码)", "kwh": "kWh in the month"}),
        identifier_columns=["enterprise_credit_code"],
        rights=catalog_pb2.Rights(
            holding=_right(("henan-drc", 10_000)),
            processing_use=_right(("zhengzhou-data-group", 7_000), ("state-grid-henan", 3_000)),
            product_operation=_right(("zhengzhou-data-group", 10_000))),
        pricing=catalog_pb2.Pricing(
            unit=catalog_pb2.PRICING_UNIT_PER_ROW, unit_price_fen=50, unit_size=1000, public_interest_free=True,
            guided_cap_fen=80, volume_tiers=[catalog_pb2.VolumeTier(from_units=1_000_000, unit_price_fen=40),
                                             catalog_pb2.VolumeTier(from_units=10_000_000, unit_price_fen=30)],
            basis=catalog_pb2.PriceBasis(cost=catalog_pb2.CostBasis(
                collection_cost_fen=2_000_000, processing_cost_fen=800_000, operating_cost_fen=500_000,
                markup_bp=1_500, expected_units=80_000))),
        allowed_purposes=["energy_planning", "credit_assessment", "carbon_accounting"],
        allowed_job_kinds=[common_pb2.JOB_KIND_AGGREGATE, common_pb2.JOB_KIND_VERIFY, common_pb2.JOB_KIND_MODEL],
        public_data=catalog_pb2.PublicDataOperation(source_department_id="henan-drc", operator_id="zhengzhou-data-group",
                                                    feedback_share_bp=2_000, fee_schedule_id="zdg-fees-2025"),
    )


def waybill_spec(schema: pa.Schema) -> catalog_pb2.ProductSpec:
    return catalog_pb2.ProductSpec(
        holder_id="luoyang-logistics-park", name="Intercity logistics waybills, 2025",
        description="50,000 waybills between Henan's cities: route, ship date, weight, fee and carrier.",
        category="logistics", grade=common_pb2.CLASSIFICATION_GRADE_INTERNAL, home_site="luoyang",
        schema=_columns(schema, {"waybill_id": ["waybill_id"]}, {"fee_fen": "freight fee, fen"}),
        identifier_columns=["waybill_id"],
        rights=catalog_pb2.Rights(
            holding=_right(("luoyang-logistics-park", 10_000)),
            processing_use=_right(("luoyang-logistics-park", 6_000), ("zhongyuan-analytics", 4_000)),
            product_operation=_right(("luoyang-logistics-park", 10_000))),
        pricing=catalog_pb2.Pricing(
            unit=catalog_pb2.PRICING_UNIT_PER_QUERY, unit_price_fen=2_000, unit_size=1,
            basis=catalog_pb2.PriceBasis(revenue=catalog_pb2.RevenueBasis(
                expected_buyer_revenue_fen=50_000_000, revenue_share_bp=500, expected_units=12_500))),
        allowed_purposes=["route_planning", "credit_assessment", "market_research"],
        allowed_job_kinds=[common_pb2.JOB_KIND_AGGREGATE, common_pb2.JOB_KIND_MODEL, common_pb2.JOB_KIND_CUSTOM],
    )


def claims_spec(schema: pa.Schema) -> catalog_pb2.ProductSpec:
    return catalog_pb2.ProductSpec(
        holder_id="henan-healthcare-security", name="Medical-insurance claims, 2025",
        description="20,000 medical-insurance claims: hospital level, age band, ICD-10 diagnosis and amounts.",
        category="health", grade=common_pb2.CLASSIFICATION_GRADE_SENSITIVE, home_site="zhengzhou",
        schema=_columns(schema, {"patient_id": ["patient_id", "personal"], "diagnosis_code": ["health"],
                                "amount_fen": ["health", "financial"]},
                        {"diagnosis_code": "ICD-10 code", "amount_fen": "claimed amount, fen"}),
        sensitive_columns=["diagnosis_code", "amount_fen"], identifier_columns=["patient_id", "claim_id"],
        rights=catalog_pb2.Rights(
            holding=_right(("henan-healthcare-security", 10_000)),
            processing_use=_right(("henan-healthcare-security", 5_000), ("zhengzhou-university-hospital", 5_000)),
            product_operation=_right(("henan-healthcare-security", 10_000))),
        pricing=catalog_pb2.Pricing(
            unit=catalog_pb2.PRICING_UNIT_PER_CALL, unit_price_fen=500, unit_size=1,
            basis=catalog_pb2.PriceBasis(negotiated=catalog_pb2.NegotiatedBasis(
                agreement_ref="HNHS-2025-017", party_ids=["henan-healthcare-security", "zhengzhou-data-exchange"],
                agreed_unix_ms=1_735_689_600_000))),
        allowed_purposes=["insurance_actuarial", "public_health_research"],
        allowed_job_kinds=[common_pb2.JOB_KIND_AGGREGATE, common_pb2.JOB_KIND_VERIFY, common_pb2.JOB_KIND_MODEL,
                           common_pb2.JOB_KIND_CUSTOM],
        # Health data: the exchange reviews the code that may run on it (custom jobs run approved analyses only).
        analysis_approver=analyses_pb2.ANALYSIS_APPROVER_OPERATOR,
        privacy=claims_privacy(),
        verification=claims_verification(),
    )


def claims_privacy() -> catalog_pb2.PrivacyDefaults:
    """Each aggregate release spends ε = 0.5 of a grant's 10; amounts are clamped to 0-20,000 yuan."""
    bounds = [catalog_pb2.ColumnBounds(column=c, lower=0, upper=2_000_000) for c in ("amount_fen", "reimbursed_fen")]
    return catalog_pb2.PrivacyDefaults(epsilon_per_release_milli=500, grant_budget_milli=10_000, bounds=bounds)


def claims_verification() -> catalog_pb2.VerificationPolicy:
    """A claim names a patient or a claim; amounts are checked in ranges of 1,000 yuan or wider, diagnoses
    against sets of two codes or more (never one), ten claims per key in thirty days."""
    return catalog_pb2.VerificationPolicy(
        key_columns=["patient_id", "claim_id"], max_claims_per_key=10, period_s=30 * 86_400,
        rules=[catalog_pb2.VerificationRule(column="amount_fen", operators=["in_range"], min_range_width=100_000),
               catalog_pb2.VerificationRule(column="diagnosis_code", operators=["in_set"])])


@dataclass(frozen=True)
class SeedProduct:
    slug: str
    table: Callable[[np.random.Generator], pa.Table]
    spec: Callable[[pa.Schema], catalog_pb2.ProductSpec]


SEED_PRODUCTS = (
    SeedProduct("enterprise-electricity-2025", electricity_table, electricity_spec),
    SeedProduct("logistics-waybills-2025", waybill_table, waybill_spec),
    SeedProduct("medical-claims-2025", claims_table, claims_spec),
)


def default_negative_list() -> list[negative_list_pb2.NegativeListEntry]:
    """Entries every exchange starts with: biometric and genetic data, and commercial use of core data."""
    return [
        negative_list_pb2.NegativeListEntry(
            column_tag="biometric", reason="biometric data (face, fingerprint, iris, voiceprint) may not be traded",
            legal_basis="Personal Information Protection Law, art. 28 (sensitive personal information)", added_by="stack"),
        negative_list_pb2.NegativeListEntry(
            column_tag="genetic", reason="human genetic resources data may not be traded",
            legal_basis="Regulations on Human Genetic Resources, art. 4", added_by="stack"),
        negative_list_pb2.NegativeListEntry(
            grade=common_pb2.CLASSIFICATION_GRADE_CORE, purpose_category=common_pb2.PURPOSE_CATEGORY_COMMERCIAL,
            reason="core data (核心数据) may not be used commercially",
            legal_basis="Data Security Law, art. 21", added_by="stack"),
    ]


def ensure_files(root: pathlib.Path) -> dict[str, pathlib.Path]:
    """The seed products' Parquet files under `root`, generated (deterministically) when missing."""
    paths = {}
    for index, seed in enumerate(SEED_PRODUCTS):
        path = root / "products" / seed.slug / "part-00000.parquet"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_suffix(".partial")
            pq.write_table(seed.table(np.random.default_rng([SEED, index])), partial)
            partial.rename(path)  # a crash never leaves a half-written file under the final name
        paths[seed.slug] = path
    return paths


def choose_domain(site: str, fleet: Sequence[NodeSpec], size: int = 2) -> list[NodeSpec]:
    """Up to `size` nodes at `site` (general-purpose first); else at Zhengzhou; else the first nodes of the fleet."""
    for wanted in (site, "zhengzhou", None):
        here = [n for n in fleet if wanted is None or n.site == wanted]
        if here:
            here.sort(key=lambda n: (n.compute_class != common_pb2.COMPUTE_CLASS_GENERAL, n.node_id))
            return here[:size]
    return []


def product_spec(seed: SeedProduct, path: pathlib.Path, domain: Sequence[NodeSpec]) -> catalog_pb2.ProductSpec:
    """The seed product's spec with its files replicated on every domain node and its figures declared."""
    meta = pq.read_metadata(path)
    spec = seed.spec(meta.schema.to_arrow_schema())
    spec.home_site = spec.home_site if any(n.site == spec.home_site for n in domain) else domain[0].site
    spec.domain_node_ids.extend(n.node_id for n in domain)
    size = path.stat().st_size
    spec.files.extend(catalog_pb2.ProductFile(node_id=n.node_id, path=str(path), bytes=size, rows=meta.num_rows)
                      for n in domain)
    spec.row_count = meta.num_rows
    spec.content_sha256 = content_sha256([str(path)])
    return spec


def _registered(client: Client, node_ids: Iterable[str]) -> bool:
    try:
        for node_id in node_ids:
            client.get_node(node_id)
        return True
    except grpc.RpcError as err:
        if err.code() != grpc.StatusCode.NOT_FOUND:
            raise
        return False


def seed_negative_list(client: Client) -> int:
    """Adds the default entries when the negative list is empty (an operator's removals stay removed otherwise)."""
    listed = client.negative_list.ListEntries(negative_list_pb2.NegativeListServiceListEntriesRequest(page_size=1),
                                              timeout=client.timeout_s)
    if listed.total:
        return 0
    for entry in default_negative_list():
        client.negative_list.AddEntry(negative_list_pb2.NegativeListServiceAddEntryRequest(
            request_id=new_request_id("seed-negative-list"), entry=entry), timeout=client.timeout_s)
    return len(default_negative_list())


def seed_products(client: Client, root: pathlib.Path, fleet: Sequence[NodeSpec], wait_s: float = 30.0) -> list[str]:
    """Registers each seed product not yet in the catalog; returns one line per product saying what happened."""
    lines = []
    paths = ensure_files(root)
    for seed in SEED_PRODUCTS:
        domain = choose_domain(seed.spec(pq.read_schema(paths[seed.slug])).home_site, fleet)
        if not domain:
            lines.append(f"{seed.slug}: not registered, the stack has no nodes to hold it")
            continue
        spec = product_spec(seed, paths[seed.slug], domain)
        existing = [p for p in client.catalog.ListProducts(
            catalog_pb2.ListProductsRequest(holder_id=spec.holder_id, page_size=1000), timeout=client.timeout_s).products
            if p.spec.name == spec.name and p.state not in (catalog_pb2.PRODUCT_STATE_REJECTED,
                                                             catalog_pb2.PRODUCT_STATE_DELISTED)]
        if existing:
            lines.append(f"{seed.slug}: already in the catalog as {existing[0].product_id}")
            continue
        deadline = time.monotonic() + wait_s
        while not _registered(client, spec.domain_node_ids):
            if time.monotonic() > deadline:
                raise TimeoutError(f"nodes {', '.join(spec.domain_node_ids)} not registered within {wait_s:g} s")
            time.sleep(0.2)
        product = client.catalog.RegisterProduct(catalog_pb2.RegisterProductRequest(
            request_id=new_request_id("seed-product"), spec=spec), timeout=client.timeout_s).product
        lines.append(f"{seed.slug}: registered as {product.product_id} on {', '.join(spec.domain_node_ids)}")
    return lines


# The seeded approved analysis: claims and reimbursements by city and age band, small cells left out.
CLAIMS_ANALYSIS_NAME = "claims by city and age band"
CLAIMS_ANALYSIS_SOURCE = """import pyarrow as pa
import pyarrow.compute as pc


def run(table, min_claims):
    cells = table.group_by(["city", "age_band"]).aggregate([([], "count_all"), ("reimbursed_fen", "sum")])
    kept = cells.filter(pc.greater_equal(cells["count_all"], min_claims))
    return pa.table({"city": kept["city"], "age_band": kept["age_band"],
                     "claims": kept["count_all"].cast(pa.int64()), "reimbursed_fen": kept["reimbursed_fen_sum"]})
"""


def claims_analysis(product_id: str) -> analyses_pb2.AnalysisSpec:
    return analyses_pb2.AnalysisSpec(
        product_id=product_id, name=CLAIMS_ANALYSIS_NAME, source=CLAIMS_ANALYSIS_SOURCE,
        description="Claims and reimbursed fen per city and age band; cells under min_claims are left out.",
        output_schema=[analyses_pb2.OutputColumn(name=n, arrow_type=t) for n, t in (
            ("city", "string"), ("age_band", "string"), ("claims", "int64"), ("reimbursed_fen", "int64"))],
        parameters=[analyses_pb2.ParameterDeclaration(name="min_claims", type=analyses_pb2.PARAMETER_TYPE_INT64,
                                                      min="10", max="1000")])


def seed_analyses(client: Client, wait_s: float = 30.0) -> list[str]:
    """Proposes and approves (as the operator, the claims product's policy) the claims analysis once its product is
    verified (it then waits for the operator's review): custom code on it runs only as this approved analysis."""
    holder, name = claims_spec(pa.schema([])).holder_id, claims_spec(pa.schema([])).name
    deadline = time.monotonic() + wait_s
    while True:
        found = [p for p in client.catalog.ListProducts(catalog_pb2.ListProductsRequest(
            holder_id=holder, page_size=1000), timeout=client.timeout_s).products if p.spec.name == name]
        if found and found[0].state in (catalog_pb2.PRODUCT_STATE_UNDER_REVIEW, catalog_pb2.PRODUCT_STATE_LISTED):
            break
        if time.monotonic() > deadline:
            return [f"analysis {CLAIMS_ANALYSIS_NAME!r}: not proposed, its product is not verified yet"]
        time.sleep(0.2)
    product_id = found[0].product_id
    existing = [a for a in client.analyses.ListAnalyses(analyses_pb2.ListAnalysesRequest(
        product_id=product_id, states=[analyses_pb2.ANALYSIS_STATE_APPROVED], page_size=1000),
        timeout=client.timeout_s).analyses if a.spec.name == CLAIMS_ANALYSIS_NAME]
    if existing:
        return [f"analysis {CLAIMS_ANALYSIS_NAME!r}: already approved as {existing[0].analysis_id}"]
    analysis = client.analyses.ProposeAnalysis(analyses_pb2.ProposeAnalysisRequest(
        request_id=new_request_id("seed-analysis"), spec=claims_analysis(product_id)), timeout=client.timeout_s).analysis
    client.analyses.ApproveAnalysis(analyses_pb2.ApproveAnalysisRequest(
        request_id=new_request_id("seed-approve-analysis"), analysis_id=analysis.analysis_id,
        code_sha256=analysis.spec.code_sha256, note="seeded"), timeout=client.timeout_s)
    return [f"analysis {CLAIMS_ANALYSIS_NAME!r}: approved as {analysis.analysis_id} on {product_id}"]


def seed_stack(client: Client, root: pathlib.Path, fleet: Sequence[NodeSpec], wait_s: float = 30.0) -> list[str]:
    """The default negative list first (products are checked against it), the seed products, then the approved
    analysis on the claims product."""
    added = seed_negative_list(client)
    lines = [f"negative list: {added} default entries added"] if added else []
    lines += seed_products(client, root, fleet, wait_s)
    return lines + seed_analyses(client, wait_s)
