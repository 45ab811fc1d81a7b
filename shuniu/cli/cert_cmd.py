"""`shuniu cert …`: registration certificates (数据产权登记凭证): show, list versions, verify offline."""

from __future__ import annotations

import datetime
import pathlib
import time

import typer
from google.protobuf import json_format
from rich.table import Table

from shuniu.cli._app import AddressOption, JsonOption, app, console, fail, print_json, resolve_address, rpc_errors, to_dict
from shuniu.client import Client
from shuniu.market._names import GRADE_NAMES, name_of
from shuniu.market.catalog import certificate_keys, certificates
from shuniu.market.catalog.rights import RIGHT_NAMES
from shuniu.protos.v1 import catalog_pb2

cert_app = typer.Typer(help="Registration certificates (数据产权登记凭证): show, versions, verify offline.",
                       no_args_is_help=True)
app.add_typer(cert_app, name="cert")

_STATE_STYLE = {"valid": "green", "superseded": "yellow", "revoked": "red", "expired": "red", "not verified": "red"}


def _when(unix_ms: int) -> str:
    return datetime.datetime.fromtimestamp(unix_ms / 1000, datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")


def _state(state: int) -> str:
    name = certificates.STATE_NAMES.get(state, str(state))
    return f"[{_STATE_STYLE.get(name, '')}]{name}[/]"


def rights_text(rights: catalog_pb2.Rights) -> str:
    """'holding henan-hs 75.00%, hospital 25.00%; …', one clause per right."""
    return "; ".join(f"{name} " + ", ".join(f"{s.holder_id} {s.share_bp / 100:.2f}%" for s in getattr(rights, name).holders)
                     for name in RIGHT_NAMES)


def _print(cert: catalog_pb2.Certificate) -> None:
    console.print(f"[bold]{cert.certificate_id}[/] version {cert.version} — {_state(cert.state)}", highlight=False)
    console.print(f"product {cert.product_id} ({cert.product_name}), holder {cert.holder_id}, "
                  f"grade {name_of(GRADE_NAMES, cert.grade)}", highlight=False)
    console.print(f"content sha256 {cert.content_sha256}", highlight=False)
    console.print(f"rights: {rights_text(cert.rights)}", highlight=False)
    console.print(f"issued {_when(cert.issued_unix_ms)}, valid {_when(cert.valid_from_unix_ms)} to "
                  f"{_when(cert.valid_until_unix_ms)}, signed by key {cert.signing_key_id}", highlight=False)
    if cert.previous_sha256:
        console.print(f"previous version sha256 {cert.previous_sha256}", highlight=False)
    console.print(f"compact: {cert.compact}", highlight=False, soft_wrap=True)


@cert_app.command("show")
def cert_show(
    certificate_id: str = typer.Argument("", help="Certificate id (or use --product)."),
    product: str = typer.Option("", "--product", help="The certificate of this product."),
    version: int = typer.Option(0, min=0, help="This version (0: the latest)."),
    out: pathlib.Path = typer.Option(None, "--out", help="Also write the certificate as JSON here, for `cert verify`."),
    as_json: bool = JsonOption,
    address: str = AddressOption,
) -> None:
    """Prints a certificate version with its standing and compact (QR-ready) text."""
    if bool(certificate_id) == bool(product):
        fail("name a certificate id or --product ID (one of them)")
    with rpc_errors(), Client(resolve_address(address)) as client:
        cert = client.catalog.GetCertificate(catalog_pb2.GetCertificateRequest(
            certificate_id=certificate_id, product_id=product, version=version), timeout=client.timeout_s).certificate
    if out is not None:
        out.write_text(json_format.MessageToJson(cert, preserving_proto_field_name=True, indent=2) + "\n")
    if as_json:
        print_json(to_dict(cert))
        return
    _print(cert)
    if out is not None:
        console.print(f"written to {out}; check it with `shuniu cert verify {out}`", highlight=False)


@cert_app.command("versions")
def cert_versions(certificate_id: str, as_json: bool = JsonOption, address: str = AddressOption) -> None:
    """Lists every version of a certificate, newest first, each linked to the one before it."""
    with rpc_errors(), Client(resolve_address(address)) as client:
        versions = list(client.catalog.ListCertificateVersions(catalog_pb2.ListCertificateVersionsRequest(
            certificate_id=certificate_id), timeout=client.timeout_s).versions)
    if as_json:
        print_json({"versions": [to_dict(v) for v in versions], "chain_breaks": certificates.chain_breaks(versions)})
        return
    table = Table(title=f"{certificate_id}: {len(versions)} versions", header_style="bold")
    for column in ("version", "state", "issued", "rights", "sha256", "previous"):
        table.add_column(column, overflow="fold")
    for v in versions:
        table.add_row(str(v.version), _state(v.state), _when(v.issued_unix_ms), rights_text(v.rights),
                      certificates.certificate_sha256(v)[:16], v.previous_sha256[:16] or "—")
    console.print(table)
    for problem in certificates.chain_breaks(versions):
        console.print(f"[red]chain broken:[/] {problem}", highlight=False)


def _load(file: pathlib.Path | None, compact: str) -> catalog_pb2.Certificate:
    if bool(file) == bool(compact):
        fail("give a certificate FILE (from `cert show --out`) or --compact TEXT (one of them)")
    if file is not None:
        try:
            text = file.read_text()
        except (OSError, UnicodeDecodeError) as err:
            fail(f"cannot read {file}: {err}")
        if not text.lstrip().startswith(certificates.COMPACT_PREFIX):
            try:
                return json_format.Parse(text, catalog_pb2.Certificate())
            except json_format.ParseError as err:
                fail(f"{file} is not a certificate as JSON (from `shuniu cert show --out`) nor compact text: {err}")
        compact = text
    try:
        return certificates.decode_compact(compact)
    except certificates.CertificateFormatError as err:
        fail(str(err))
        raise  # unreachable: fail exits


def _keys(paths: list[pathlib.Path]) -> dict[str, bytes]:
    paths = paths or [certificate_keys.public_key_path()]
    try:
        return certificate_keys.public_keys(paths)
    except FileNotFoundError as err:
        fail(f"no public key at {err.filename}; pass --public-key FILE (the exchange's "
             f"{certificate_keys.PUBLIC_NAME}, published in its state directory under keys/)")
    except ValueError as err:
        fail(str(err))
    raise AssertionError("unreachable")


@cert_app.command("verify")
def cert_verify(
    file: pathlib.Path = typer.Argument(None, help="Certificate JSON from `cert show --out` (or a file of compact text)."),
    compact: str = typer.Option("", "--compact", help="The compact text (SNC1.…) instead of a file."),
    public_key: list[pathlib.Path] = typer.Option([], "--public-key", help="The exchange's public key file, repeatable "
                                                  f"(default: keys/{certificate_keys.PUBLIC_NAME} in the state dir)."),
    online: bool = typer.Option(False, "--online", help="Also ask the control plane whether it is revoked or superseded."),
    as_json: bool = JsonOption,
    address: str = AddressOption,
) -> None:
    """Checks a certificate offline (signature, fields, validity); exits non-zero with the reasons when it fails."""
    cert = _load(file, compact)
    verdict = certificates.verify_offline(cert, _keys(public_key), int(time.time() * 1000))
    state, reasons, valid = verdict.state, list(verdict.reasons), verdict.valid
    if online and valid:
        with rpc_errors(), Client(resolve_address(address)) as client:
            answer = client.catalog.VerifyCertificate(catalog_pb2.VerifyCertificateRequest(certificate=cert),
                                                      timeout=client.timeout_s)
        state, reasons, valid = answer.certificate.state, list(answer.reasons), answer.valid
    name = certificates.STATE_NAMES.get(state, str(state))
    if as_json:
        print_json({"valid": valid, "state": name, "reasons": reasons, "checked": "online" if online else "offline",
                    "certificate": to_dict(cert)})
    elif valid:
        console.print(f"{cert.certificate_id} version {cert.version} of product {cert.product_id}: {_state(state)} "
                      f"(signed by key {cert.signing_key_id}, checked {'online' if online else 'offline'})",
                      highlight=False)
    if not valid:
        if not as_json:
            fail(f"certificate {cert.certificate_id or '?'} version {cert.version} does not verify ({name}): "
                 + "; ".join(reasons))
        raise typer.Exit(1)
