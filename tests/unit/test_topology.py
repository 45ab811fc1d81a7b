"""Topology core: site catalog, RTT model, latency tiers, the RTT matrix in force."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console

from shuniu.cli._topology_view import site_matrix_table, tiers_legend
from shuniu.nodes.sites import SITES, Site
from shuniu.nodes.topology import (
    DEFAULT_BOUNDS,
    MAX_SAMPLES_PER_PAIR,
    TIERS,
    RttMatrix,
    RttModel,
    TierBounds,
    UnknownSiteError,
    distance_km,
    get_site,
    site_ids,
    tier_for,
    tier_from_name,
    tier_name,
)
from shuniu.protos.v1 import common_pb2

HENAN = [s.site for s in SITES if s.region == "henan"]
HUBS = [s.site for s in SITES if s.region == "hub"]
ANCHOR = "zhengzhou"


@pytest.fixture
def matrix() -> RttMatrix:
    return RttMatrix()


# --- site catalog -------------------------------------------------------------------------


def test_catalog_has_the_17_prefecture_cities_jiyuan_and_the_8_hubs():
    assert sorted(HENAN) == sorted([
        "zhengzhou", "kaifeng", "luoyang", "pingdingshan", "anyang", "hebi", "xinxiang", "jiaozuo",
        "puyang", "xuchang", "luohe", "sanmenxia", "nanyang", "shangqiu", "xinyang", "zhoukou",
        "zhumadian", "jiyuan",
    ])
    assert sorted(HUBS) == sorted([
        "beijing-tianjin-hebei", "yangtze-delta", "guangdong-hk-macao", "chengdu-chongqing",
        "inner-mongolia", "guizhou", "gansu", "ningxia",
    ])
    assert site_ids() == tuple(HENAN + HUBS)
    assert site_ids()[0] == ANCHOR


@pytest.mark.parametrize("site", HENAN, ids=HENAN)
def test_henan_cities_lie_inside_the_province(site):
    s = get_site(site)
    # Henan spans roughly 31.4–36.4 N, 110.4–116.7 E.
    assert 31.3 <= s.latitude <= 36.4 and 110.3 <= s.longitude <= 116.7
    assert s.display_name.lower().startswith(site)


@pytest.mark.parametrize(
    "site,display",
    [("zhengzhou", "Zhengzhou 郑州"), ("luoyang", "Luoyang 洛阳"), ("jiyuan", "Jiyuan 济源")],
    ids=["zhengzhou", "luoyang", "jiyuan"],
)
def test_display_name_carries_pinyin_and_hanzi(site, display):
    assert get_site(site).display_name == display


@pytest.mark.parametrize(
    "site,km",
    [("kaifeng", 63), ("luoyang", 108), ("xinyang", 292), ("nanyang", 220),
     ("guangdong-hk-macao", 1105)],
    ids=["kaifeng", "luoyang", "xinyang", "nanyang", "shaoguan"],
)
def test_great_circle_distance_from_zhengzhou_matches_known_geography(site, km):
    assert distance_km(get_site(ANCHOR), get_site(site)) == pytest.approx(km, rel=0.03)


# --- the provincial latency circle (省辖市内1毫秒、郑洛间3毫秒、省域5毫秒、全国20毫秒) ------------


@pytest.mark.parametrize("site", HENAN, ids=HENAN)
def test_every_henan_city_is_within_t3_of_zhengzhou(matrix, site):
    rtt = matrix.rtt_ms(ANCHOR, site)
    assert rtt <= DEFAULT_BOUNDS.t3_ms
    assert tier_for(rtt) in (1, 2, 3)


def test_luoyang_is_t2_from_zhengzhou(matrix):
    assert tier_for(matrix.rtt_ms(ANCHOR, "luoyang")) == common_pb2.TIER_T2


@pytest.mark.parametrize("site", HUBS, ids=HUBS)
def test_every_hub_is_within_t4_of_zhengzhou_but_outside_the_province_circle(matrix, site):
    assert tier_for(matrix.rtt_ms(ANCHOR, site)) == common_pb2.TIER_T4


@pytest.mark.parametrize(
    "site,bound_ms",
    [("xinyang", 5.0), ("nanyang", 5.0), ("sanmenxia", 5.0), ("ningxia", 20.0),
     ("guangdong-hk-macao", 20.0), ("guizhou", 20.0)],
    ids=["xinyang", "nanyang", "sanmenxia", "zhongwei", "shaoguan", "guian"],
)
def test_far_sites_stay_inside_their_circle(matrix, site, bound_ms):
    assert matrix.rtt_ms(ANCHOR, site) <= bound_ms


@pytest.mark.parametrize("site", site_ids(), ids=site_ids())
def test_a_site_to_itself_is_t1_at_the_switching_overhead(matrix, site):
    assert matrix.rtt_ms(site, site) == pytest.approx(RttModel().overhead_ms)
    assert tier_for(matrix.rtt_ms(site, site)) == common_pb2.TIER_T1


# --- tiers --------------------------------------------------------------------------------


def test_tier_numbers_are_the_proto_enum_values():
    assert TIERS == (common_pb2.TIER_T1, common_pb2.TIER_T2, common_pb2.TIER_T3, common_pb2.TIER_T4)
    assert [tier_name(t) for t in TIERS] == ["T1", "T2", "T3", "T4"]
    assert [tier_from_name(n) for n in ("T1", "t2", " T3 ", "T4")] == list(TIERS)


@pytest.mark.parametrize(
    "rtt_ms,tier",
    [(0.0, 1), (1.0, 1), (1.0001, 2), (3.0, 2), (4.99, 3), (5.0, 3), (5.01, 4), (20.0, 4), (20.01, None)],
    ids=["zero", "t1-edge", "just-past-t1", "t2-edge", "inside-t3", "t3-edge", "just-past-t3", "t4-edge",
         "beyond-t4"],
)
def test_tier_for_picks_the_smallest_tier_whose_bound_holds(rtt_ms, tier):
    assert tier_for(rtt_ms) == tier


@pytest.mark.parametrize("rtt_ms", [-0.1, math.nan, math.inf, "3"], ids=["negative", "nan", "inf", "string"])
def test_tier_for_rejects_a_rtt_that_is_not_a_finite_non_negative_number(rtt_ms):
    with pytest.raises(ValueError, match="expected a finite number >= 0"):
        tier_for(rtt_ms)


@pytest.mark.parametrize(
    "text,expected",
    [
        ("T1=1,T2=3,T3=5,T4=20", TierBounds()),
        (" t1 = 0.5 , T2=2 ", TierBounds(t1_ms=0.5, t2_ms=2.0)),
        ("T4=30,", TierBounds(t4_ms=30.0)),
        ("", TierBounds()),
    ],
    ids=["defaults-spelled-out", "partial-with-blanks-and-lowercase", "trailing-comma", "empty-keeps-defaults"],
)
def test_tier_bounds_parse(text, expected):
    assert TierBounds.parse(text) == expected


def test_tier_bounds_round_trip_through_their_string_form():
    bounds = TierBounds(0.5, 2.5, 6.0, 25.0)
    assert str(bounds) == "T1=0.5,T2=2.5,T3=6,T4=25"
    assert TierBounds.parse(str(bounds)) == bounds


@pytest.mark.parametrize(
    "text,message",
    [
        ("T1=1,T2", 'tier bound "T2" has no "="; expected NAME=MS'),
        ("T7=3", 'tier "T7" unknown; expected one of T1, T2, T3, T4'),
        ("T1=1,T1=2", "tier T1 given twice"),
        ("T2=fast", 'T2 bound "fast" is not a number; expected ms, e.g. T2=3'),
        ("T1=3,T2=2", "T2=2 must be greater than T1=3; expected bounds increasing, e.g. T1=1,T2=3,T3=5,T4=20"),
        ("T3=30", "T4=20 must be greater than T3=30"),
        ("T1=0", "T1 bound 0.0 invalid; expected a finite number of ms > 0"),
        ("T1=-1", "T1 bound -1.0 invalid"),
        ("T4=inf", "T4 bound inf invalid"),
    ],
    ids=["missing-equals", "unknown-tier", "duplicate", "not-a-number", "decreasing", "t3-above-default-t4",
         "zero", "negative", "infinite"],
)
def test_tier_bounds_parse_errors_say_what_would_be_right(text, message):
    with pytest.raises(ValueError) as err:
        TierBounds.parse(text)
    assert message in str(err.value)


def test_tier_bounds_from_mapping_fills_defaults_and_coerces_to_float():
    bounds = TierBounds.from_mapping({"T2": 2, "t3": "4.5"})
    assert bounds.as_tuple() == (1.0, 2.0, 4.5, 20.0)
    assert all(isinstance(b, float) for b in bounds.as_tuple())
    assert bounds.as_mapping() == {"T1": 1.0, "T2": 2.0, "T3": 4.5, "T4": 20.0}


@pytest.mark.parametrize("tier", [0, 5, "T1", 2.0, True], ids=["zero", "five", "name", "float", "bool"])
def test_bound_ms_rejects_a_tier_outside_1_to_4(tier):
    with pytest.raises(ValueError, match="expected one of 1, 2, 3, 4"):
        DEFAULT_BOUNDS.bound_ms(tier)


# --- the matrix in force ------------------------------------------------------------------


def test_a_pair_is_modelled_until_measured(matrix):
    assert not matrix.is_measured(ANCHOR, "luoyang")
    assert matrix.rtt_ms(ANCHOR, "luoyang") == pytest.approx(matrix.model_rtt_ms(ANCHOR, "luoyang"))


def test_measured_samples_override_the_model_in_both_directions(matrix):
    matrix.observe("luoyang", ANCHOR, 2.4)
    assert matrix.is_measured(ANCHOR, "luoyang") and matrix.is_measured("luoyang", ANCHOR)
    assert matrix.rtt_ms(ANCHOR, "luoyang") == 2.4
    assert matrix.rtt_ms("luoyang", ANCHOR) == 2.4
    assert not matrix.is_measured(ANCHOR, "kaifeng")


@pytest.mark.parametrize(
    "samples,median",
    [([1.5], 1.5), ([1.0, 2.0, 3.0], 2.0), ([1.0, 2.0, 3.0, 4.0], 2.5), ([1.0, 1.1, 90.0], 1.1)],
    ids=["one", "odd", "even", "one-slow-probe-does-not-move-it"],
)
def test_rtt_in_force_is_the_median_of_samples(matrix, samples, median):
    for rtt in samples:
        matrix.observe(ANCHOR, "kaifeng", rtt)
    assert matrix.rtt_ms("kaifeng", ANCHOR) == pytest.approx(median)


def test_only_the_last_16_samples_per_pair_are_kept(matrix):
    for _ in range(MAX_SAMPLES_PER_PAIR):
        matrix.observe(ANCHOR, "kaifeng", 100.0)
    for _ in range(MAX_SAMPLES_PER_PAIR):
        matrix.observe("kaifeng", ANCHOR, 1.0)
    assert matrix.samples(ANCHOR, "kaifeng") == (1.0,) * MAX_SAMPLES_PER_PAIR
    assert matrix.rtt_ms(ANCHOR, "kaifeng") == 1.0


@pytest.mark.parametrize(
    "rtt_ms", [-1.0, math.nan, math.inf, -math.inf, None], ids=["negative", "nan", "inf", "minus-inf", "none"]
)
def test_a_bad_sample_is_rejected_and_changes_nothing(matrix, rtt_ms):
    with pytest.raises(ValueError, match="expected a finite number >= 0"):
        matrix.observe(ANCHOR, "kaifeng", rtt_ms)
    assert not matrix.is_measured(ANCHOR, "kaifeng")


_UNKNOWN_SITE_CALLS = {
    "get_site": lambda m: get_site("foo"),
    "observe-from": lambda m: m.observe("foo", ANCHOR, 1.0),
    "observe-to": lambda m: m.observe(ANCHOR, "foo", 1.0),
    "rtt_ms": lambda m: m.rtt_ms(ANCHOR, "foo"),
    "is_measured": lambda m: m.is_measured("foo", ANCHOR),
    "pool_sites": lambda m: m.pool_sites("foo", 3),
}


@pytest.mark.parametrize("call", _UNKNOWN_SITE_CALLS.values(), ids=_UNKNOWN_SITE_CALLS.keys())
def test_unknown_site_error_lists_the_valid_ids(matrix, call):
    with pytest.raises(UnknownSiteError) as err:
        call(matrix)
    message = str(err.value)
    assert isinstance(err.value, ValueError)
    assert message.startswith('site "foo" unknown; expected one of anyang, beijing-tianjin-hebei, ')
    assert message.endswith(", zhumadian")
    assert err.value.valid == tuple(sorted(site_ids()))


def test_as_array_is_the_matrix_in_force_in_site_order(matrix):
    matrix.observe(ANCHOR, "luoyang", 2.5)
    array = matrix.as_array()
    ids = matrix.sites
    assert ids == site_ids()
    assert array.shape == (len(ids), len(ids)) and array.dtype == np.float64
    i, j = ids.index(ANCHOR), ids.index("luoyang")
    assert array[i, j] == array[j, i] == 2.5
    assert matrix.measured_mask()[i, j] and matrix.measured_mask().sum() == 2
    array[i, j] = 99.0  # a copy: callers cannot change the matrix in force
    assert matrix.rtt_ms(ANCHOR, "luoyang") == 2.5


def test_pool_around_zhengzhou_at_t2_holds_luoyang_nearest_first(matrix):
    pool = matrix.pool_sites(ANCHOR, common_pb2.TIER_T2)
    names = [site for site, _, _ in pool]
    rtts = [rtt for _, rtt, _ in pool]
    assert names[0] == ANCHOR and "luoyang" in names
    assert rtts == sorted(rtts) and all(r <= 3.0 for r in rtts)
    assert not any(measured for _, _, measured in pool)
    assert "xinyang" not in names


@pytest.mark.parametrize(
    "tier,expected_sites",
    [(1, [ANCHOR]), (3, HENAN), (4, list(site_ids()))],
    ids=["t1-same-city-only", "t3-the-province", "t4-everything"],
)
def test_pool_tiers_around_zhengzhou_follow_the_provincial_circle(matrix, tier, expected_sites):
    assert sorted(s for s, _, _ in matrix.pool_sites(ANCHOR, tier)) == sorted(expected_sites)


def test_a_measurement_can_move_a_site_into_and_out_of_a_pool(matrix):
    matrix.observe(ANCHOR, "kaifeng", 0.8)
    matrix.observe(ANCHOR, "luoyang", 4.0)
    t1 = matrix.pool_sites(ANCHOR, 1)
    assert ("kaifeng", 0.8, True) in t1
    assert "luoyang" not in [s for s, _, _ in matrix.pool_sites(ANCHOR, 2)]


def test_pool_uses_the_given_bounds(matrix):
    tight = TierBounds.parse("T1=0.5,T2=1.5,T3=2,T4=3")
    names = [s for s, _, _ in matrix.pool_sites(ANCHOR, 2, tight)]
    assert "kaifeng" in names and "luoyang" not in names


# --- properties of the model --------------------------------------------------------------

_latitudes = st.floats(min_value=-89.0, max_value=89.0, allow_nan=False)
_longitudes = st.floats(min_value=-179.0, max_value=179.0, allow_nan=False)
_sites = st.builds(lambda lat, lon: Site("x", "X", "hub", lat, lon), _latitudes, _longitudes)
_models = st.builds(
    RttModel,
    route_factor=st.floats(min_value=1.0, max_value=3.0),
    overhead_ms=st.floats(min_value=0.0, max_value=2.0),
)


@given(a=_sites, b=_sites, model=_models)
def test_model_is_symmetric_and_a_site_to_itself_is_the_overhead(a, b, model):
    assert model.rtt_ms(a, b) == pytest.approx(model.rtt_ms(b, a))
    assert model.rtt_ms(a, a) == pytest.approx(model.overhead_ms)
    assert model.rtt_ms(a, b) >= model.overhead_ms


@given(d1=st.floats(min_value=0.0, max_value=20_040.0), d2=st.floats(min_value=0.0, max_value=20_040.0),
       model=_models)
def test_model_rtt_is_monotone_in_distance(d1, d2, model):
    near, far = sorted((d1, d2))
    assert model.rtt_ms_for_distance(near) <= model.rtt_ms_for_distance(far)


@given(sites=st.lists(st.tuples(_latitudes, _longitudes), min_size=1, max_size=8), model=_models)
def test_model_matrix_is_symmetric_with_the_overhead_on_its_diagonal_and_equals_pairwise_model(sites, model):
    catalog = [Site(f"s{i}", f"S{i}", "hub", lat, lon) for i, (lat, lon) in enumerate(sites)]
    array = RttMatrix(model, sites=catalog).as_array()
    np.testing.assert_array_equal(array, array.T)
    np.testing.assert_allclose(np.diag(array), model.overhead_ms, atol=1e-9)
    expected = [[model.rtt_ms(a, b) for b in catalog] for a in catalog]
    np.testing.assert_allclose(array, expected, rtol=1e-9, atol=1e-6)


@given(st.lists(st.tuples(st.sampled_from(site_ids()), st.sampled_from(site_ids()),
                          st.floats(min_value=0.0, max_value=1e4)), max_size=40))
def test_matrix_in_force_stays_symmetric_under_any_measurements(observations):
    matrix = RttMatrix()
    for a, b, rtt in observations:
        matrix.observe(a, b, rtt)
    array = matrix.as_array()
    np.testing.assert_array_equal(array, array.T)


# --- rendering ----------------------------------------------------------------------------


def _render(renderable) -> str:
    console = Console(width=200, record=True, color_system=None)
    console.print(renderable)
    return console.export_text()


def test_site_matrix_table_shows_rtt_and_marks_measured_values(matrix):
    matrix.observe(ANCHOR, "luoyang", 2.5)
    text = _render(site_matrix_table(matrix, DEFAULT_BOUNDS, [ANCHOR, "luoyang", "ningxia"]))
    assert "2.5*" in text and "0.2" in text
    assert f"{matrix.rtt_ms(ANCHOR, 'ningxia'):.1f}" in text
    assert "T1 ≤ 1 ms" in text


def test_tiers_legend_names_every_bound():
    legend = tiers_legend(TierBounds.parse("T1=0.5")).plain
    assert legend == "T1 ≤ 0.5 ms  T2 ≤ 3 ms  T3 ≤ 5 ms  T4 ≤ 20 ms  beyond T4"
