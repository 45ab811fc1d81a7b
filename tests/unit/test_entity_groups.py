"""The minimum group size counts distinct entities (the product's identifier), not rows."""

from __future__ import annotations

import pyarrow as pa
import pytest

from shuniu.nodes.sandbox.egress import GROUP_ROWS_COLUMN, EgressPolicy, check_egress, group_row_bounds
from shuniu.nodes.sandbox.profile import profile_input

K5 = EgressPolicy(min_group_rows=5, suppress_small_groups=True)


def _input(groups: dict[str, list[str]], extra: dict | None = None) -> pa.Table:
    """Rows of (city, person): each city's list names the person behind each of its rows."""
    cities = [c for c, people in groups.items() for _ in people]
    people = [p for ps in groups.values() for p in ps]
    return pa.table({"city": cities, "person_id": people, "kwh": [1.0] * len(people), **(extra or {})})


def _released(output_cities: list[str], input_table: pa.Table, keys=("city",)) -> list[str]:
    profile = profile_input(input_table, [], ["person_id"], group_keys=keys)
    output = pa.table({"city": output_cities, "kwh_sum": [1.0] * len(output_cities),
                       GROUP_ROWS_COLUMN: [10] * len(output_cities)})
    return check_egress(output, profile, K5).table.column("city").to_pylist()


@pytest.mark.parametrize(
    ("people", "released"),
    [
        (["p1"] * 5 + ["p2"] * 5, False),
        (["p1", "p2", "p3", "p4"] * 2 + ["p1", "p2"], False),
        ([f"p{i}" for i in range(5)] * 2, True),
        ([f"p{i}" for i in range(10)], True),
    ],
    ids=["10-rows-of-2-people", "10-rows-of-4-people", "10-rows-of-5-people", "10-rows-of-10-people"],
)
def test_a_group_is_released_only_when_k_distinct_people_stand_behind_it(people, released):
    table = _input({"Kaifeng": people, "Zhengzhou": [f"z{i}" for i in range(20)]})
    assert _released(["Kaifeng", "Zhengzhou"], table) == (["Kaifeng", "Zhengzhou"] if released else ["Zhengzhou"])


def test_without_an_identifier_in_the_input_every_row_counts_as_an_entity():
    table = _input({"Kaifeng": ["p1"] * 5 + ["p2"] * 5}).drop_columns(["person_id"])
    profile = profile_input(table, [], ["person_id"])
    assert profile.entity_column is None
    assert group_row_bounds(pa.table({"city": ["Kaifeng"]}), profile).tolist() == [10]


def test_a_two_key_group_counts_the_people_of_the_combination_not_of_each_key():
    # Each city and each month has 10 people, but (Kaifeng, 2026-01) holds 10 rows of only 2 of them.
    cities = ["Kaifeng"] * 10 + ["Kaifeng"] * 8 + ["Luoyang"] * 8
    months = ["2026-01"] * 10 + ["2026-02"] * 8 + ["2026-01"] * 8
    people = ["p1", "p2"] * 5 + [f"k{i}" for i in range(8)] + [f"l{i}" for i in range(8)]
    table = pa.table({"city": cities, "month": months, "person_id": people})
    profile = profile_input(table, [], ["person_id"], group_keys=("city", "month"))
    output = pa.table({"city": ["Kaifeng", "Kaifeng", "Luoyang", "Anyang"], "month": ["2026-01", "2026-02", "2026-01", "2026-01"],
                       GROUP_ROWS_COLUMN: [10, 8, 8, 9]})
    assert group_row_bounds(output, profile).tolist() == [2, 8, 8, 0]
    released = check_egress(output, profile, K5).table
    assert list(zip(released.column("city").to_pylist(), released.column("month").to_pylist())) == [
        ("Kaifeng", "2026-02"), ("Luoyang", "2026-01")]


def test_a_short_sensitive_value_counts_people_too():
    # An age held by 6 rows of one person is a group of one.
    table = pa.table({"age": [42] * 6 + [30, 31, 32, 33, 34, 35], "person_id": ["p1"] * 6 + [f"q{i}" for i in range(6)]})
    profile = profile_input(table, ["age"], ["person_id"])
    assert group_row_bounds(pa.table({"age": [42, 30]}), profile).tolist() == [1, 1]
