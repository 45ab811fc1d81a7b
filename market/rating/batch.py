"""From a usage batch (Arrow) to rated lines: resolve strings to indexes once, then run the kernels.

`prepare_batch` is the edge: it validates the batch against the usage schema, resolves
node/compute class to a price card and product id to a product, flags public-interest use,
checks the limits that keep the kernels' integer arithmetic exact, and hands the numeric
columns over as zero-copy numpy views of the batch's Arrow buffers. `rate_inputs` runs
the kernels; `rate_inputs_twin` runs their plain-Python twins (the reference rater).

The kernel streams its columns from memory, so they reach it as narrow as the wire sent them
(usage_schema.to_wire): the six quantities (RATED_QUANTITIES) as int32 when all six came so (a mix
is widened: only two forms of them are compiled), the start time as int32 ms after the batch's
base, and the price-card and product indexes as int16 when the tables are that small (index_type).
A record is then 34 bytes of input instead of 66 at the widest; `shuniu bench rating` times it with
int32 quantities and with int64 ones (58 bytes).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from shuniu.market.rating.compute import compute_charge_twin
from shuniu.market.rating.data import data_charge_twin
from shuniu.market.rating.kernel import all_within, kernel_tables, rate_kernel, slots_within
from shuniu.market.rating.tables import RateTables, index_type
from shuniu.protos.usage_schema import column_base, string_codes, validate_usage_batch, widened

__all__ = [
    "RATED_QUANTITIES",
    "RatedBatch",
    "RatingInputError",
    "RatingInputs",
    "prepare_batch",
    "rate_batch",
    "rate_inputs",
    "rate_inputs_twin",
    "rating_form",
    "units_before_from_mapping",
]

# Per-batch limits; the per-record ones are the usage wire's (a valid batch is inside them), and with
# those in tables.py no kernel product leaves int64.
MAX_BATCH_RECORDS = 2**24
# Cumulative volume carried into a batch saturates here: every volume tier starts at or below it
# (tables.MAX_TIER_FROM_UNITS), so a count past it prices exactly as 2^62 does, and 2^62 plus a batch's
# most 2^49 units stays in int64.
MAX_UNITS_BEFORE = 2**62
RATED_QUANTITIES = ("cpu_ms", "memory_mb_s", "gpu_ms", "rows", "calls", "queries")


class RatingInputError(ValueError):
    """A batch that cannot be rated (unknown node or product, wrong price version, over a limit)."""

    def __init__(self, reason: str, record_id: str | None = None) -> None:
        self.reason = reason
        self.record_id = record_id
        super().__init__(reason if record_id is None else f"record {record_id!r}: {reason}")


@dataclass(frozen=True, eq=False)
class RatingInputs:
    """The numeric per-record columns the kernels read, all of one length; the six quantities
    (RATED_QUANTITIES) all int64 or all int32."""

    card_index: np.ndarray  # index_type (int16 or int32), row of RateTables.compute price-card arrays
    tier: np.ndarray  # int8, 1..4
    start_ms: np.ndarray  # int32 or int64: the start time in ms after start_base_ms (Unix ms: start_base_ms + start_ms)
    cpu_ms: np.ndarray
    memory_mb_s: np.ndarray
    gpu_ms: np.ndarray
    product_index: np.ndarray  # index_type (int16 or int32), row of RateTables.data arrays, -1 for compute-only
    free: np.ndarray  # bool, public data for a public-interest purpose
    rows: np.ndarray
    calls: np.ndarray
    queries: np.ndarray
    start_base_ms: int = 0

    def __len__(self) -> int:
        return len(self.card_index)

    def start_unix_ms(self) -> np.ndarray:
        """int64 start times in Unix ms."""
        return self.start_ms.astype(np.int64) + self.start_base_ms

    def columns(self) -> dict[str, np.ndarray]:
        """The per-record columns by name."""
        return {name: getattr(self, name) for name in _COLUMN_NAMES}

    def sliced(self, start: int, stop: int) -> RatingInputs:
        """Records start..stop-1 (views, same base)."""
        return dataclasses.replace(self, **{name: column[start:stop] for name, column in self.columns().items()})


_COLUMN_NAMES = tuple(f.name for f in dataclasses.fields(RatingInputs) if f.name != "start_base_ms")


@dataclass(frozen=True, eq=False)
class RatedBatch:
    """Rated lines per record (int64 milli-fen, exact: the ledger accrues sub-fen amounts and rounds where a
    bill is made; a compute line's micro-fen below its milli-fen apart) and each product's cumulative volume after the batch. `*_fen` are each line rounded half to
    even to the fen, for views of a single line."""

    compute_millifen: np.ndarray
    data_millifen: np.ndarray
    cap_reduction_millifen: np.ndarray
    units_after: np.ndarray  # int64, aligned with RateTables.data.product_ids
    # int16 0..999: a compute line's micro-fen below its milli-fen (compute lines are rounded to the micro-fen; data
    # lines are exact milli-fen). Line i is exactly compute_millifen[i] + compute_rest_microfen[i] / 1000 milli-fen.
    compute_rest_microfen: np.ndarray

    @property
    def compute_fen(self) -> np.ndarray:
        return _fen_of(self, "compute_millifen")

    @property
    def data_fen(self) -> np.ndarray:
        return _fen_of(self, "data_millifen")

    @property
    def cap_reduction_fen(self) -> np.ndarray:
        return _fen_of(self, "cap_reduction_millifen")

    @property
    def total_fen(self) -> int:
        """What the buyers owe for the batch, each line rounded to the fen: compute plus data charges (cap already applied)."""
        return _exact_sum(self.compute_fen) + _exact_sum(self.data_fen)

    @property
    def total_millifen(self) -> int:
        """What the buyers owe for the batch in milli-fen, each compute line's micro-fen below a milli-fen left out
        (cap already applied)."""
        return _exact_sum(self.compute_millifen) + _exact_sum(self.data_millifen)

    @property
    def total_microfen(self) -> int:
        """What the buyers owe for the batch, exactly, in micro-fen (cap already applied)."""
        return self.total_millifen * 1000 + int(self.compute_rest_microfen.sum(dtype=np.int64))


def _exact_sum(lines: np.ndarray) -> int:
    """The sum of non-negative int64 lines as a Python int: NumPy's own sum while it cannot pass int64 (the
    usual case, two passes), else in two halves of 31 bits (a batch's 2^24 lines of up to 2^62 can)."""
    if not len(lines) or int(lines.max()) <= (2**63 - 1) // len(lines):
        return int(lines.sum())
    return int((lines >> 31).sum()) * 2**31 + int((lines & (2**31 - 1)).sum())


def _fen_of(rated: RatedBatch, name: str) -> np.ndarray:
    """A milli-fen column rounded half to even per line (computed once); a compute line with its micro-fen rest
    (exactly half a fen and a rest above it is more than half)."""
    found = rated.__dict__.get("_" + name)
    if found is None:
        millifen = getattr(rated, name)
        q, r = np.divmod(millifen, 1000)
        over = rated.compute_rest_microfen > 0 if name == "compute_millifen" else False
        found = q + ((r > 500) | ((r == 500) & (over | (q % 2 == 1))))
        object.__setattr__(rated, "_" + name, found)
    return found


def rate_batch(batch: pa.RecordBatch, tables: RateTables, units_before: np.ndarray | None = None) -> RatedBatch:
    """Validate, prepare and rate one usage batch; units_before defaults to zero for every product."""
    return rate_inputs(prepare_batch(batch, tables), tables, units_before)


def rate_inputs(inputs: RatingInputs, tables: RateTables, units_before: np.ndarray | None = None,
                volume_slot: np.ndarray | None = None) -> RatedBatch:
    """Rate prepared inputs with the Numba kernel.

    Volume tiers count per product (units_before aligned with tables.data.product_ids), or,
    with `volume_slot` (one int per record), per slot (units_before one per slot)."""
    slots, before = _volume(inputs, tables, units_before, volume_slot)
    x = _one_quantity_width(inputs)
    compute_millifen, compute_rest, data_millifen, cap_millifen, after = rate_kernel(
        x.card_index, x.tier, x.start_ms, x.start_base_ms, x.cpu_ms, x.memory_mb_s, x.gpu_ms, x.product_index, x.free, x.rows,
        x.calls, x.queries, before, slots, *kernel_tables(tables),
    )  # fmt: skip
    return RatedBatch(compute_millifen, data_millifen, cap_millifen, after, compute_rest)


def rate_inputs_twin(inputs: RatingInputs, tables: RateTables, units_before: np.ndarray | None = None,
                     volume_slot: np.ndarray | None = None) -> RatedBatch:
    """Rate prepared inputs with the plain-Python twins (the reference rater; slow)."""
    slots, before = _volume(inputs, tables, units_before, volume_slot)
    c, d, x = tables.compute, tables.data, inputs
    compute_microfen = compute_charge_twin(
        x.card_index, x.tier, x.start_unix_ms(), x.cpu_ms, x.memory_mb_s, x.gpu_ms,
        c.cpu_core_hour_fen, c.memory_gb_hour_fen, c.gpu_hour_fen, c.hour_multiplier_bp, c.tier_factor_bp, microfen=True,
    )  # fmt: skip
    data_millifen, cap_millifen, after = data_charge_twin(
        x.product_index, x.free, x.rows, x.calls, x.queries,
        d.unit_kind, d.tier_offsets, d.tier_from_units, d.tier_price_millifen, d.guided_cap_millifen, before, slots,
        millifen=True,
    )  # fmt: skip
    as_array = lambda values: np.asarray(values, dtype=np.int64)  # noqa: E731
    compute_millifen = [m // 1000 for m in compute_microfen]
    compute_rest = np.asarray([m % 1000 for m in compute_microfen], dtype=np.int16)
    return RatedBatch(as_array(compute_millifen), as_array(data_millifen), as_array(cap_millifen), as_array(after), compute_rest)


def rating_form(batch: pa.RecordBatch) -> pa.RecordBatch:
    """The batch with every column its sender narrowed to int32 back in int64, except start_unix_ms and
    the RATED_QUANTITIES when all six are int32."""
    types = dict(zip(batch.schema.names, batch.schema.types))
    narrow = all(types.get(name) == pa.int32() for name in RATED_QUANTITIES)
    return widened(batch, (*(RATED_QUANTITIES if narrow else ()), "start_unix_ms"))


def _one_quantity_width(inputs: RatingInputs) -> RatingInputs:
    """`inputs` with its quantities all int32 or all int64 (a mix widened): the kernel is compiled for those two."""
    quantities = [getattr(inputs, name) for name in RATED_QUANTITIES]
    if all(q.dtype == np.int32 for q in quantities) or all(q.dtype == np.int64 for q in quantities):
        return inputs
    return dataclasses.replace(inputs, **{name: q.astype(np.int64) for name, q in zip(RATED_QUANTITIES, quantities)})


def units_before_from_mapping(tables: RateTables, units: dict[str, int]) -> np.ndarray:
    """Cumulative volume per product (aligned with tables.data.product_ids) from {product_id: units}."""
    unknown = sorted(set(units) - set(tables.data.product_ids))
    if unknown:
        raise ValueError(f"cumulative volume given for unknown products {unknown}")
    return np.array([units.get(p, 0) for p in tables.data.product_ids], dtype=np.int64)


def prepare_batch(batch: pa.RecordBatch, tables: RateTables, validate: bool = True) -> RatingInputs:
    """Validate a usage batch (unless the caller just did) and resolve it into kernel inputs;
    raise UsageSchemaError or RatingInputError."""
    if isinstance(batch, pa.Table):
        batch = batch.combine_chunks().to_batches()[0] if batch.num_rows else pa.RecordBatch.from_pylist([], batch.schema)
    if validate:
        validate_usage_batch(batch)
    batch = rating_form(batch)
    if batch.num_rows > MAX_BATCH_RECORDS:
        raise RatingInputError(f"batch has {batch.num_rows} records; at most {MAX_BATCH_RECORDS} are rated at once")
    # The per-record quantity limits the kernels rely on (MAX_COMPUTE_QUANTITY, MAX_DATA_UNITS) are the
    # usage wire's: the validation just run (or the caller's) has checked them.
    view = {name: batch.column(name).to_numpy(zero_copy_only=True) for name in _NUMERIC}
    product_index = _product_index(batch, tables, view["price_version"])
    return RatingInputs(
        card_index=_card_index(batch, tables, view["compute_class"]),
        tier=view["tier"],
        start_ms=view["start_unix_ms"],
        start_base_ms=column_base(batch.schema.field("start_unix_ms")),
        cpu_ms=view["cpu_ms"],
        memory_mb_s=view["memory_mb_s"],
        gpu_ms=view["gpu_ms"],
        product_index=product_index,
        free=_free(batch, tables, product_index, view["purpose_category"]),
        rows=view["rows"],
        calls=view["calls"],
        queries=view["queries"],
    )


_NUMERIC = ("tier", "compute_class", "start_unix_ms", "cpu_ms", "memory_mb_s", "gpu_ms", "rows", "calls", "queries", "price_version",
            "purpose_category")
# shuniu.v1.PurposeCategory: public governance (公共治理) and public-interest use (公益).
_PUBLIC_INTEREST_CATEGORIES = (1, 2)


def _card_index(batch: pa.RecordBatch, tables: RateTables, compute_class: np.ndarray) -> np.ndarray:
    # Strings are resolved once per distinct value (a batch names a node or a few), then taken by code.
    names, code = string_codes(batch.column("node_id"))
    rows = {node_id: row for row, node_id in enumerate(tables.compute.node_ids)}
    node_row = np.array([rows.get(name, -1) for name in names], dtype=np.int64)
    if (node_row < 0).any():
        first = int(np.flatnonzero(node_row[code] < 0)[0])
        raise RatingInputError(f"unknown node {names[code[first]]!r}: no price card", batch.column("record_id")[first].as_py())
    card = tables.compute.card_index[node_row[code], compute_class]
    bad = np.flatnonzero(card < 0)
    if bad.size:
        i = bad[0]
        raise RatingInputError(
            f"node {names[code[i]]!r} has no price card for compute class {compute_class[i]}", batch.column("record_id")[i].as_py()
        )
    return card


def _product_index(batch: pa.RecordBatch, tables: RateTables, versions: np.ndarray) -> np.ndarray:
    """Row of tables.data per record, found by (product_id, price_version); -1 for compute-only records."""
    names, code = string_codes(batch.column("product_id"))
    known = sorted(set(tables.data.product_ids))
    position = {product_id: k for k, product_id in enumerate(known)}
    name_code = np.array([position.get(name, -1 if name == "" else -2) for name in names] or [-1], dtype=np.int64)
    if (name_code == -2).any():
        first = int(np.flatnonzero(name_code[code] == -2)[0])
        raise RatingInputError(f"unknown product {names[code[first]]!r}", batch.column("record_id")[first].as_py())
    code = name_code[code]
    # Rows are sorted by (product id, version): a combined integer key finds them by binary search.
    row_code = np.searchsorted(np.array(known, dtype=object), np.array(tables.data.product_ids, dtype=object))
    row_keys = (row_code.astype(np.int64) << 40) | tables.data.price_versions
    keys = (code << 40) | np.minimum(versions, 2**40 - 1)
    found = np.minimum(np.searchsorted(row_keys, keys), max(len(row_keys) - 1, 0))
    has_product = code >= 0
    bad = np.flatnonzero(has_product & ((row_keys[found] if len(row_keys) else keys + 1) != keys))
    if bad.size:
        i = bad[0]
        product = known[code[i]]
        held = [int(v) for pid, v in zip(tables.data.product_ids, tables.data.price_versions) if pid == product]
        raise RatingInputError(
            f"product {product!r} priced under version {versions[i]}; these rate tables are version "
            f"{', '.join(map(str, held))}", batch.column("record_id")[i].as_py()
        )
    return np.where(has_product, found, -1).astype(index_type(len(row_keys)))


def _free(batch: pa.RecordBatch, tables: RateTables, product_index: np.ndarray, purpose_category: np.ndarray) -> np.ndarray:
    names, code = string_codes(batch.column("purpose"))
    public_purpose = np.array([name in tables.data.public_interest_purposes for name in names] or [False])
    public_interest = public_purpose[code] | np.isin(purpose_category, _PUBLIC_INTEREST_CATEGORIES)
    # Index -1 (no product) lands on the appended False.
    public_product = np.append(tables.data.is_public, False)[product_index]
    return public_interest & public_product


def _volume(inputs: RatingInputs, tables: RateTables, units_before: np.ndarray | None,
            volume_slot: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """(volume slot per record, cumulative units per slot), checked."""
    if volume_slot is None:
        # One slot per product: the product index itself (-1 only on records that never touch a slot).
        return inputs.product_index, _units_before(tables, units_before)
    slots = np.ascontiguousarray(volume_slot)
    if slots.shape != (len(inputs),) or slots.dtype.kind not in "iu":
        raise ValueError(f"volume_slot must be {len(inputs)} integers, one per record, got shape {slots.shape} {slots.dtype}")
    n_slots = 0 if units_before is None else len(units_before)
    if not slots_within(slots, inputs.product_index, n_slots):
        raise ValueError(f"volume_slot of a data record must be within 0..{n_slots - 1}, the slots of units_before")
    return slots, _checked_before(units_before, n_slots, "volume slots")


def _units_before(tables: RateTables, units_before: np.ndarray | None) -> np.ndarray:
    return _checked_before(units_before, len(tables.data.product_ids), "the rate tables' product_ids")


def _checked_before(units_before: np.ndarray | None, n: int, aligned_with: str) -> np.ndarray:
    if units_before is None:
        return np.zeros(n, dtype=np.int64)
    before = np.asarray(units_before)
    if before.shape != (n,) or before.dtype.kind not in "iu":
        raise ValueError(f"units_before must be {n} integers aligned with {aligned_with}, got shape {before.shape} {before.dtype}")
    checked = before.astype(np.int64, copy=False)  # an unsigned value past 2^63 turns negative: refused below
    if not all_within(checked, 0, MAX_UNITS_BEFORE):
        if (checked < 0).any():
            raise ValueError(f"units_before must be within 0..{MAX_UNITS_BEFORE}")
        checked = np.minimum(checked, MAX_UNITS_BEFORE)  # saturated: past every tier start, priced the same
    return checked
