"""Rich rendering of the round-trip-time matrix for `shuniu topology`; pure, prints nothing."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text

from shuniu.nodes.topology import TIERS, RttMatrix, TierBounds, tier_name

_TIER_STYLES = {1: "green", 2: "cyan", 3: "yellow", 4: "red"}
_BEYOND_STYLE = "dim"


def _cell(rtt_ms: float, measured: bool, bounds: TierBounds) -> Text:
    tier = bounds.tier_for(rtt_ms)
    style = _TIER_STYLES[tier] if tier is not None else _BEYOND_STYLE
    # Measured values are bold and starred so that they stand out from the model.
    return Text(f"{rtt_ms:.1f}{'*' if measured else ''}", style=f"bold {style}" if measured else style)


def site_matrix_table(matrix: RttMatrix, bounds: TierBounds, sites: list[str] | None = None) -> Table:
    """The RTT matrix (ms) over `sites` (default: every site), cells coloured by tier; * marks measured values."""
    chosen = list(matrix.sites if sites is None else sites)
    table = Table(title="Round-trip time (ms), * = measured", caption=tiers_legend(bounds))
    table.add_column("from \\ to", style="bold", no_wrap=True)
    for site in chosen:
        table.add_column(site, justify="right")
    for a in chosen:
        table.add_row(a, *(_cell(matrix.rtt_ms(a, b), matrix.is_measured(a, b), bounds) for b in chosen))
    return table


def tiers_legend(bounds: TierBounds) -> Text:
    """One line naming each tier's bound in its colour, e.g. "T1 ≤ 1 ms  T2 ≤ 3 ms …"."""
    legend = Text()
    for tier in TIERS:
        legend.append(f"{tier_name(tier)} ≤ {bounds.bound_ms(tier):g} ms", style=_TIER_STYLES[tier])
        legend.append("  ")
    legend.append(f"beyond {tier_name(TIERS[-1])}", style=_BEYOND_STYLE)
    return legend
