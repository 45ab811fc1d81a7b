"""`shuniu products …`: the catalog of data products (register, list, review, delist, price, rights, export)."""

from __future__ import annotations

import pathlib
import sys

import typer
from google.protobuf import json_format
from rich.table import Table

from shuniu.cli._app import AddressOption, JsonOption, app, console, fail, print_json, resolve_address, rpc_errors, to_dict
from shuniu.client import Client, new_request_id
from shuniu.market._names import GRADE_NAMES, name_of, value_of
from shuniu.market.catalog import STATE_NAMES, UNIT_NAMES, basis_text, state_name
from shuniu.market.catalog.rights_change import KIND_NAMES
from shuniu.nodes.product_verify import content_sha256, product_paths
from shuniu.protos.v1 import catalog_pb2

products_app = typer.Typer(help="Data products: register, list, review, delist, set prices and rights, export.",
                           no_args_is_help=True)
app.add_typer(products_app, name="products")

_STATE_STYLE = {"registered": "cyan", "under_review": "yellow", "listed": "green", "rejected": "red", "delisted": "dim"}


def enum_value(names: dict[int, str], text: str, what: str) -> int:
    """The enum value of an option's short name (0 when empty); fails naming the accepted names."""
    if not text:
        return 0
    try:
        return value_of(names, text, what)
    except ValueError as err:
        fail(str(err))
        raise  # unreachable: fail exits


def load_message(path: pathlib.Path, message, what: str):
    """Parses a JSON file into `message` (field names as in the .proto); fails with what is wrong and where."""
    try:
        text = path.read_text()
    except OSError as err:
        fail(f"cannot read {path}: {err.strerror}")
    try:
        return json_format.Parse(text, message)
    except json_format.ParseError as err:
        fail(f"{path} is not a valid {what} as JSON: {err}")


def price_text(pricing: catalog_pb2.Pricing) -> str:
    per = UNIT_NAMES.get(pricing.unit, "?").removeprefix("per_")
    size = f"{pricing.unit_size:,} " if pricing.unit_size > 1 else ""
    return f"{pricing.unit_price_fen:,} fen/{size}{per}"


def _row(p: catalog_pb2.Product) -> list[str]:
    state = state_name(p.state)
    return [p.product_id, p.spec.name, p.spec.holder_id, name_of(GRADE_NAMES, p.spec.grade),
            f"[{_STATE_STYLE.get(state, '')}]{state}[/]", p.spec.home_site, f"{p.spec.row_count:,}",
            f"{price_text(p.spec.pricing)} v{p.spec.pricing.price_version}"]


def list_products(client: Client, request: catalog_pb2.ListProductsRequest) -> list[catalog_pb2.Product]:
    """Every matching product, following pages."""
    products: list[catalog_pb2.Product] = []
    while True:
        page = client.catalog.ListProducts(request, timeout=client.timeout_s)
        products += page.products
        if not page.next_page_token:
            return products
        request.page_token = page.next_page_token


@products_app.command("ls")
def products_ls(
    state: list[str] = typer.Option([], help=f"Only this state, repeatable: {', '.join(STATE_NAMES.values())}."),
    holder: str = typer.Option("", help="Only products of this holder."),
    grade: str = typer.Option("", help="Only this grade: public, internal, sensitive, core."),
    category: str = typer.Option("", help="Only this category, e.g. energy."),
    as_json: bool = JsonOption,
    address: str = AddressOption,
) -> None:
    """Lists data products with their state, grade and price in force."""
    request = catalog_pb2.ListProductsRequest(
        holder_id=holder, category=category, page_size=1000,
        states=[enum_value(STATE_NAMES, s, "state") for s in state],
        grade=enum_value(GRADE_NAMES, grade, "grade"),
    )
    with rpc_errors(), Client(resolve_address(address)) as client:
        products = list_products(client, request)
    if as_json:
        print_json({"products": [to_dict(p) for p in products], "total": len(products)})
        return
    table = Table(title=f"{len(products)} products", header_style="bold")
    for column in ("product", "name", "holder", "grade", "state", "site", "rows", "price"):
        table.add_column(column, justify="right" if column == "rows" else "left",
                         no_wrap=column in ("product", "state", "rows"), overflow="fold")
    for product in products:
        table.add_row(*_row(product))
    console.print(table)


@products_app.command("show")
def products_show(
    product_id: str,
    price_version: int = typer.Option(0, help="Show this price version instead of the one in force."),
    as_json: bool = JsonOption,
    address: str = AddressOption,
) -> None:
    """Prints one product: spec, state, verification and pricing."""
    with rpc_errors(), Client(resolve_address(address)) as client:
        product = client.catalog.GetProduct(
            catalog_pb2.GetProductRequest(product_id=product_id, price_version=price_version),
            timeout=client.timeout_s).product
    if as_json:
        print_json(to_dict(product))
        return
    spec = product.spec
    console.print(f"[bold]{product.product_id}[/] {spec.name} — {state_name(product.state)}"
                  + (f" ({product.state_reason})" if product.state_reason else ""), highlight=False)
    console.print(f"holder {spec.holder_id}, grade {name_of(GRADE_NAMES, spec.grade)}, home {spec.home_site}, "
                  f"domain {', '.join(spec.domain_node_ids)}", highlight=False)
    console.print(f"price v{spec.pricing.price_version}: {price_text(spec.pricing)}", highlight=False)
    console.print(f"price basis: {basis_text(spec.pricing.basis)}", highlight=False)
    table = Table(header_style="bold")
    for column in ("column", "arrow type", "tags", "protected"):
        table.add_column(column)
    for column in spec.schema:
        protected = ("identifier" if column.name in spec.identifier_columns
                     else "sensitive" if column.name in spec.sensitive_columns else "")
        table.add_row(column.name, column.arrow_type, ", ".join(column.tags), protected)
    console.print(table)
    if product.verification.node_id:
        v = product.verification
        console.print(f"verified on {v.node_id}: {v.row_count:,} rows, sha256 {v.content_sha256[:16]}…, "
                      + ("ok" if v.ok else f"mismatch: {v.mismatch}"), highlight=False)


@products_app.command("register")
def products_register(
    spec_file: pathlib.Path = typer.Argument(..., help="ProductSpec as JSON (field names as in catalog.proto)."),
    hash_files: bool = typer.Option(False, help="Fill content_sha256 from the files, readable on this machine."),
    request_id: str = typer.Option("", help="Idempotency key (default: a new one)."),
    as_json: bool = JsonOption,
    address: str = AddressOption,
) -> None:
    """Registers a product; a node in its domain then verifies the files before it is listed."""
    spec = load_message(spec_file, catalog_pb2.ProductSpec(), "ProductSpec")
    if hash_files:
        try:
            spec.content_sha256 = content_sha256(product_paths(spec))
        except OSError as err:
            fail(f"cannot hash the product's files here: {err}; run on a node that holds them or declare content_sha256")
    with rpc_errors(), Client(resolve_address(address)) as client:
        product = client.catalog.RegisterProduct(catalog_pb2.RegisterProductRequest(
            request_id=request_id or new_request_id("register-product"), spec=spec), timeout=client.timeout_s).product
    if as_json:
        print_json(to_dict(product))
        return
    console.print(f"product {product.product_id} registered; waiting for verification by a node in its domain")


@products_app.command("review")
def products_review(
    product_id: str,
    approve: bool = typer.Option(None, "--approve/--reject", help="Approve (list) or reject the product."),
    reason: str = typer.Option("", help="Why; required to reject."),
    address: str = AddressOption,
) -> None:
    """An operator's compliance review of a verified sensitive or core product."""
    if approve is None:
        fail("say --approve or --reject")
    with rpc_errors(), Client(resolve_address(address)) as client:
        product = client.catalog.ReviewProduct(catalog_pb2.ReviewProductRequest(
            request_id=new_request_id("review"), product_id=product_id, approve=approve, reason=reason),
            timeout=client.timeout_s).product
    console.print(f"product {product.product_id} {state_name(product.state)}")


@products_app.command("delist")
def products_delist(product_id: str, reason: str = typer.Option("", help="Why, for the holder and the audit trail."),
                    address: str = AddressOption) -> None:
    """Takes a product off the market; no new grant or job may use it."""
    with rpc_errors(), Client(resolve_address(address)) as client:
        product = client.catalog.DelistProduct(catalog_pb2.DelistProductRequest(
            request_id=new_request_id("delist"), product_id=product_id, reason=reason), timeout=client.timeout_s).product
    console.print(f"product {product.product_id} delisted")


def _tiers(values: list[str]) -> list[catalog_pb2.VolumeTier]:
    tiers = []
    for item in values:
        units, sep, price = item.partition("=")
        if not sep or not units.strip().isdigit() or not price.strip().isdigit():
            fail(f"tier {item!r} malformed; expected FROM_UNITS=UNIT_PRICE_FEN, e.g. 1000000=2")
        tiers.append(catalog_pb2.VolumeTier(from_units=int(units), unit_price_fen=int(price)))
    return tiers


@products_app.command("price")
def products_price(
    product_id: str,
    pricing_file: pathlib.Path = typer.Option(None, "--pricing", help="A whole Pricing as JSON; other options then apply on top."),
    unit: str = typer.Option("", help=f"Unit charged: {', '.join(UNIT_NAMES.values())}."),
    price_fen: int = typer.Option(None, help="Price per unit_size units, fen."),
    unit_size: int = typer.Option(None, help="Units the price covers, e.g. 1000 rows."),
    tier: list[str] = typer.Option([], help="Volume tier FROM_UNITS=UNIT_PRICE_FEN, repeatable; replaces all tiers."),
    guided_cap_fen: int = typer.Option(None, help="Guided price cap (政府指导价) per unit_size units, fen; 0: none."),
    public_interest_free: bool = typer.Option(None, "--public-interest-free/--no-public-interest-free",
                                              help="Free for public-interest use (public data only)."),
    as_json: bool = JsonOption,
    address: str = AddressOption,
) -> None:
    """Sets a new price: the next price version; earlier versions keep billing what they billed."""
    with rpc_errors(), Client(resolve_address(address)) as client:
        pricing = catalog_pb2.Pricing()
        if pricing_file is not None:
            load_message(pricing_file, pricing, "Pricing")
        else:
            # Unnamed fields (the price basis above all) stay as in force.
            pricing.CopyFrom(client.catalog.GetProduct(catalog_pb2.GetProductRequest(product_id=product_id),
                                                       timeout=client.timeout_s).product.spec.pricing)
        if unit:
            pricing.unit = enum_value(UNIT_NAMES, unit, "unit")
        for field, value in (("unit_price_fen", price_fen), ("unit_size", unit_size), ("guided_cap_fen", guided_cap_fen),
                             ("public_interest_free", public_interest_free)):
            if value is not None:
                setattr(pricing, field, value)
        if tier:
            del pricing.volume_tiers[:]
            pricing.volume_tiers.extend(_tiers(tier))
        product = client.catalog.UpdateProductPrice(catalog_pb2.UpdateProductPriceRequest(
            request_id=new_request_id("price"), product_id=product_id, pricing=pricing), timeout=client.timeout_s).product
    if as_json:
        print_json(to_dict(product))
        return
    console.print(f"product {product.product_id} price v{product.spec.pricing.price_version}: "
                  f"{price_text(product.spec.pricing)}", highlight=False)



def _right(text: str, option: str) -> catalog_pb2.Right:
    right = catalog_pb2.Right()
    for item in text.split(","):
        holder, sep, bp = item.strip().partition("=")
        if not sep or not holder or not bp.strip().isdigit():
            fail(f"{option} {text!r} malformed; expected HOLDER=SHARE_BP,… summing to 10000, e.g. henan-hs=7500,hospital=2500")
        right.holders.add(holder_id=holder.strip(), share_bp=int(bp))
    return right


@products_app.command("rights")
def products_rights(
    product_id: str,
    kind: str = typer.Option(..., help=f"Kind of change: {', '.join(KIND_NAMES.values())}."),
    all_rights: str = typer.Option("", "--all", help="HOLDER=BP,… for all three rights at once."),
    holding: str = typer.Option("", help="HOLDER=BP,… of the holding right (持有权)."),
    processing_use: str = typer.Option("", help="HOLDER=BP,… of the processing-use right (加工使用权)."),
    product_operation: str = typer.Option("", help="HOLDER=BP,… of the product-operation right (经营权)."),
    rights_file: pathlib.Path = typer.Option(None, "--rights", help="The whole Rights as JSON instead."),
    reason: str = typer.Option("", help="Why, for the certificate's record and the audit trail."),
    request_id: str = typer.Option("", help="Idempotency key (default: a new one)."),
    as_json: bool = JsonOption,
    address: str = AddressOption,
) -> None:
    """Changes a product's rights; a listed product gets a new certificate version linked to the previous one."""
    change = enum_value(KIND_NAMES, kind, "kind")
    with rpc_errors(), Client(resolve_address(address)) as client:
        rights = catalog_pb2.Rights()
        if rights_file is not None:
            load_message(rights_file, rights, "Rights")
        else:  # rights not named stay as in force
            rights.CopyFrom(client.catalog.GetProduct(catalog_pb2.GetProductRequest(product_id=product_id),
                                                      timeout=client.timeout_s).product.spec.rights)
        for name, text in (("holding", holding or all_rights), ("processing_use", processing_use or all_rights),
                           ("product_operation", product_operation or all_rights)):
            if text:
                getattr(rights, name).CopyFrom(_right(text, f"--{name.replace('_', '-')}"))
        answer = client.catalog.UpdateProductRights(catalog_pb2.UpdateProductRightsRequest(
            request_id=request_id or new_request_id("rights"), product_id=product_id, kind=change, rights=rights,
            reason=reason), timeout=client.timeout_s)
    if as_json:
        print_json({"product": to_dict(answer.product), "certificate": to_dict(answer.certificate)})
        return
    cert = answer.certificate
    console.print(f"product {product_id} rights changed ({kind})"
                  + (f"; certificate {cert.certificate_id} version {cert.version} issued" if cert.certificate_id
                     else "; its certificate will carry them when it is listed"), highlight=False)


@products_app.command("export")
def products_export(
    out: pathlib.Path = typer.Option(None, "--out", help="Write the JSON-LD here (default: standard output)."),
    address: str = AddressOption,
) -> None:
    """Exports the listed catalog as a DCAT-style JSON-LD document, for other data spaces."""
    with rpc_errors(), Client(resolve_address(address)) as client:
        answer = client.catalog.ExportCatalog(catalog_pb2.ExportCatalogRequest(), timeout=client.timeout_s)
    if out is None:
        sys.stdout.write(answer.json_ld)
        return
    out.write_text(answer.json_ld)
    console.print(f"{answer.products} listed products exported to {out} (DCAT JSON-LD, {len(answer.json_ld):,} bytes)",
                  highlight=False)
