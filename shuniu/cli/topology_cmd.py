"""`shuniu topology` (the site matrix) and `shuniu pools` (tiered pools with live capacity)."""

from __future__ import annotations

import grpc
import typer
from rich.table import Table

from shuniu.cli._app import AddressOption, JsonOption, app, console, err_console, fail, print_json, resolve_address, rpc_errors, to_dict
from shuniu.cli._topology_view import site_matrix_table
from shuniu.client import Client
from shuniu.nodes import topology


def _parse_bounds(text: str) -> topology.TierBounds:
    try:
        return topology.TierBounds.parse(text) if text else topology.TierBounds()
    except ValueError as err:
        fail(str(err))
        raise


@app.command("topology")
def topology_cmd(
    sites: str = typer.Option("", help="Comma-separated site ids to show (default: all)."),
    model: bool = typer.Option(False, "--model", help="Show the geographic model only, without the control plane."),
    tiers: str = typer.Option("", help="Tier bounds for --model, e.g. T1=1,T2=3,T3=5,T4=20."),
    as_json: bool = JsonOption,
    address: str = AddressOption,
) -> None:
    """Prints the round-trip-time matrix between sites, coloured by latency tier."""
    matrix = topology.RttMatrix()
    bounds = _parse_bounds(tiers)
    source = "model"
    if not model:
        try:
            with Client(resolve_address(address), timeout_s=3) as client:
                response = client.topology()
            for entry in response.rtts:
                if entry.measured and entry.from_site < entry.to_site:
                    matrix.observe(entry.from_site, entry.to_site, entry.rtt_ms)
            bounds = topology.TierBounds(*(t.bound_ms for t in sorted(response.tiers, key=lambda t: t.tier)))
            source = "control plane (measured where marked *)"
        except grpc.RpcError:
            err_console.print("control plane not reachable; showing the geographic model")
    selected = [s.strip() for s in sites.split(",") if s.strip()] or None
    for site in selected or []:
        if site not in topology.site_ids():
            fail(f"site {site!r} unknown; expected one of {', '.join(sorted(topology.site_ids()))}")
    if as_json:
        ids = selected or list(topology.site_ids())
        print_json({
            "source": source, "tiers": bounds.as_mapping(),
            "sites": [{"site": s, "display_name": topology.get_site(s).display_name, "region": topology.get_site(s).region}
                      for s in ids],
            "rtt_ms": {a: {b: round(matrix.rtt_ms(a, b), 3) for b in ids} for a in ids},
        })
        return
    console.print(site_matrix_table(matrix, bounds, selected))
    console.print(f"source: {source}")


@app.command("pools")
def pools_cmd(
    anchor: str = typer.Option("zhengzhou", help="Anchor site: where the buyer or the data is."),
    tier: list[str] = typer.Option([], help="Only these tiers (T1..T4), repeatable."),
    as_json: bool = JsonOption,
    address: str = AddressOption,
) -> None:
    """Prints the latency-tiered pools around an anchor site with live capacity."""
    try:
        tiers = [topology.tier_from_name(t) for t in tier]
    except ValueError as err:
        fail(str(err))
    with rpc_errors(), Client(resolve_address(address)) as client:
        pools = client.pools(anchor, tiers)
    if as_json:
        print_json({"anchor_site": anchor, "pools": [to_dict(p) for p in pools]})
        return
    for pool in pools:
        table = Table(
            title=f"{topology.tier_name(pool.tier)} pool around {anchor} (≤ {pool.bound_ms:g} ms): "
                  f"{pool.nodes_ready} ready nodes, {pool.free.cpu_milli / 1000:,.0f}/{pool.capacity.cpu_milli / 1000:,.0f} "
                  f"cores free, {pool.free.gpu}/{pool.capacity.gpu} GPUs free",
            header_style="bold", title_justify="left",
        )
        for column in ("site", "rtt ms", "ready/total", "cores free/total", "GPUs free/total"):
            table.add_column(column, justify="left" if column == "site" else "right")
        for s in pool.sites:
            table.add_row(s.site, f"{s.rtt_ms:.2f}{'*' if s.measured else ''}", f"{s.nodes_ready}/{s.nodes_total}",
                          f"{s.free.cpu_milli / 1000:,.0f}/{s.capacity.cpu_milli / 1000:,.0f}", f"{s.free.gpu}/{s.capacity.gpu}")
        console.print(table)
