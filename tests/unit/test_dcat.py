"""The DCAT-style JSON-LD export of the listed catalog."""

from __future__ import annotations

import json
import random

from shuniu.market.catalog import dcat
from shuniu.protos.v1 import catalog_pb2, common_pb2

C = catalog_pb2
SECRET_PATH = "/srv/hospital/raw/claims-2025.parquet"
DOMAIN_NODE = "n-zz-secret-7"


def product(i: int, state=C.PRODUCT_STATE_LISTED) -> catalog_pb2.Product:
    p = C.Product(product_id=f"prd-{i:012x}", state=state, listed_unix_ms=1_760_000_000_000 + i,
                  updated_unix_ms=1_760_000_100_000 + i, certificate_id=f"cert-{i:016x}", certificate_version=2)
    spec = p.spec
    spec.holder_id, spec.name, spec.description, spec.category = f"holder-{i % 3}", f"claims {i}", "monthly claims", "health"
    spec.grade, spec.home_site, spec.row_count = common_pb2.CLASSIFICATION_GRADE_INTERNAL, "zhengzhou", 1000
    spec.domain_node_ids.append(DOMAIN_NODE)
    spec.files.add(node_id=DOMAIN_NODE, path=f"{SECRET_PATH}.{i}", bytes=4096, rows=600)
    spec.files.add(node_id=DOMAIN_NODE, path=f"{SECRET_PATH}.{i}.b", bytes=1024, rows=400)
    spec.schema.add(name="patient_id", arrow_type="string")
    spec.schema.add(name="amount_fen", arrow_type="int64")
    spec.identifier_columns.append("patient_id")
    spec.content_sha256 = "ab" * 32
    spec.allowed_purposes.extend(["actuarial", "research"])
    spec.allowed_job_kinds.extend([common_pb2.JOB_KIND_VERIFY, common_pb2.JOB_KIND_AGGREGATE])
    spec.pricing.unit, spec.pricing.unit_price_fen, spec.pricing.price_version = C.PRICING_UNIT_PER_CALL, 500, 3
    spec.pricing.basis.cost.MergeFrom(C.CostBasis(collection_cost_fen=90_000, operating_cost_fen=10_000, markup_bp=2_000,
                                                  expected_units=240))
    return p


PRODUCTS = [product(i) for i in range(5)] + [product(9, C.PRODUCT_STATE_DELISTED), product(8, C.PRODUCT_STATE_REGISTERED)]


def test_document_is_json_ld_with_every_listed_product_and_nothing_else():
    text, count = dcat.catalog_json_ld(PRODUCTS)
    document = json.loads(text)
    assert count == 5 and document["@type"] == "dcat:Catalog"
    assert document["@context"]["dcat"] == "http://www.w3.org/ns/dcat#"
    assert {"dct", "odrl", "foaf", "xsd"} <= document["@context"].keys()
    ids = [d["dct:identifier"] for d in document["dcat:dataset"]]
    assert ids == [p.product_id for p in PRODUCTS[:5]]


def test_dataset_carries_publisher_distribution_policy_and_certificate():
    dataset = json.loads(dcat.catalog_json_ld(PRODUCTS[:1])[0])["dcat:dataset"][0]
    assert dataset["dct:title"] == "claims 0" and dataset["dcat:theme"] == "health"
    assert dataset["dct:publisher"]["@id"] == "urn:shuniu:org:holder-0"
    assert dataset["dct:issued"] == {"@value": "2025-10-09T08:53:20.000Z", "@type": "xsd:dateTime"}
    distribution = dataset["dcat:distribution"][0]
    assert distribution["dct:format"] == "Parquet" and distribution["dcat:byteSize"]["@value"] == 5120
    policy = dataset["odrl:hasPolicy"][0]
    constraints = {c["odrl:leftOperand"]: c["odrl:rightOperand"] for c in policy["odrl:permission"][0]["odrl:constraint"]}
    assert constraints == {"odrl:purpose": ["actuarial", "research"], "shuniu:jobKind": ["aggregate", "verify"]}
    assert (policy["shuniu:grade"], policy["shuniu:priceUnit"], policy["shuniu:unitPriceFen"]) == ("internal", "per_call", 500)
    assert dataset["shuniu:certificate"] == {"@id": "urn:shuniu:certificate:cert-0000000000000000", "shuniu:version": 2}
    # Every listing states how its price was set, with the parameters (zero ones are proto3 defaults, left out).
    assert policy["shuniu:priceBasis"] == {"shuniu:method": "cost", "shuniu:parameters": {
        "collection_cost_fen": 90_000, "operating_cost_fen": 10_000, "markup_bp": 2_000, "expected_units": 240}}


def test_no_file_path_or_domain_node_leaks():
    text, _ = dcat.catalog_json_ld(PRODUCTS)
    assert SECRET_PATH not in text and "/srv/" not in text and DOMAIN_NODE not in text


def test_same_catalog_gives_the_same_bytes_in_any_order():
    shuffled = PRODUCTS[:]
    random.Random(3).shuffle(shuffled)
    assert dcat.catalog_json_ld(PRODUCTS) == dcat.catalog_json_ld(shuffled)


def test_empty_catalog_is_still_a_catalog():
    document = json.loads(dcat.catalog_json_ld([])[0])
    assert document["dcat:dataset"] == [] and "@context" in document
