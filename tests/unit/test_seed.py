"""Seed data of the local stack: deterministic files, specs that pass the catalog's rules and verify."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest

from shuniu.market import catalog, negative_list
from shuniu.nodes import topology
from shuniu.nodes.product_verify import verify_product
from shuniu.nodes.simulator import FleetPlan
from shuniu.stack import seed


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return seed.ensure_files(tmp_path_factory.mktemp("seed"))


def test_credit_codes_carry_the_gb32100_check_character():
    # A code with a published check character: 91350100M000100Y43 (GB 32100-2015 example).
    code = seed.credit_code("zhengzhou", "M00010000")
    assert len(code) == 18 and code.startswith("91410100M00010000")
    chars = seed._CREDIT_CHARS
    total = sum(chars.index(c) * w for c, w in zip("91350100M000100Y4", seed._CREDIT_WEIGHTS))
    assert chars[(31 - total % 31) % 31] == "3"


def test_files_are_generated_once_and_the_same_every_time(files, tmp_path):
    again = seed.ensure_files(tmp_path)
    assert {k: p.read_bytes() for k, p in again.items()} == {k: p.read_bytes() for k, p in files.items()}
    before = files["medical-claims-2025"].stat().st_mtime_ns
    seed.ensure_files(files["medical-claims-2025"].parents[2])
    assert files["medical-claims-2025"].stat().st_mtime_ns == before


@pytest.mark.parametrize("product", seed.SEED_PRODUCTS, ids=lambda p: p.slug)
def test_seed_specs_pass_the_rules_and_verify_on_their_domain(files, product):
    fleet = FleetPlan(count=60, mix={1: 70, 2: 20, 3: 10}).specs()
    home = product.spec(pq.read_schema(files[product.slug])).home_site
    domain = seed.choose_domain(home, fleet)
    assert domain and all(n.site == home for n in domain)
    spec = seed.product_spec(product, files[product.slug], domain)
    catalog.check_spec(spec, topology.site_ids())
    assert negative_list.refusal_for_product(seed.default_negative_list(), spec) is None
    assert verify_product(spec, domain[0].node_id).ok


def test_a_fleet_without_nodes_in_the_city_falls_back_to_zhengzhou_then_anywhere():
    fleet = FleetPlan(count=60, mix={1: 1}).specs()
    assert {n.site for n in seed.choose_domain("atlantis", fleet)} == {"zhengzhou"}
    gansu_only = [n for n in fleet if n.site != "zhengzhou"][:1]
    assert seed.choose_domain("zhengzhou", gansu_only) == gansu_only
    assert seed.choose_domain("zhengzhou", []) == []
