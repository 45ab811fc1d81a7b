"""Loading TLS material from a CA directory into gRPC credentials, for the server and every client.

A CA directory (made by `shuniu ca init`, or by `shuniu up` under its state directory) holds
`ca.pem`, `server.pem`/`server.key` and one `<stem>.pem`/`<stem>.key` pair per identity. Clients
pick theirs with an identity label: a user name (`operator` → `user-operator`), `node:ID`
(→ `node-ID`), or a file stem as it is.
"""

from __future__ import annotations

import os
import pathlib
from dataclasses import dataclass

import grpc
from shuniu.security import pki

TLS_DIR_ENV = "SHUNIU_TLS_DIR"
IDENTITY_ENV = "SHUNIU_IDENTITY"
# Set by the CLI from the running local stack: its CA directory serves calls to its address only.
STACK_TLS_DIR_ENV, STACK_ADDR_ENV = "SHUNIU_STACK_TLS_DIR", "SHUNIU_STACK_ADDR"
DEFAULT_IDENTITY = "operator"
# Clients dial 127.0.0.1:PORT; the server certificate names both 127.0.0.1 and localhost, and this
# name is the one checked, so a certificate issued for other hosts still serves a local test.
SERVER_NAME = "localhost"


@dataclass(frozen=True)
class ClientTls:
    """What a client presents and trusts: the CA, its certificate and key (PEM bytes)."""

    ca_pem: bytes
    cert_pem: bytes
    key_pem: bytes

    def credentials(self) -> grpc.ChannelCredentials:
        return grpc.ssl_channel_credentials(self.ca_pem, self.key_pem, self.cert_pem)

    def identity(self) -> pki.Identity:
        return pki.identity_from_pem(self.cert_pem)


def identity_stem(label: str) -> str:
    """The file stem of an identity label: `operator` → `user-operator`, `node:n1` → `node-n1`."""
    if label.startswith(("user-", "node-")):
        return label
    if label.startswith("node:"):
        return pki.node_identity(*label.removeprefix("node:").split("+")).file_stem()
    return f"user-{label}"


def _read(directory: pathlib.Path, name: str, what: str) -> bytes:
    try:
        return (directory / name).read_bytes()
    except FileNotFoundError:
        raise pki.PkiError(f"{what} {directory / name} not found; make it with `shuniu ca …` "
                           f"(`shuniu ca issue --help`)") from None


def load_client_tls(directory: str | os.PathLike, identity: str = DEFAULT_IDENTITY) -> ClientTls:
    """The CA and the certificate of `identity` (see identity_stem) from a CA directory."""
    directory = pathlib.Path(directory)
    stem = identity_stem(identity)
    return ClientTls(_read(directory, pki.CA_CERT, "CA certificate"),
                     _read(directory, f"{stem}.pem", f"certificate of {identity!r}"),
                     _read(directory, f"{stem}.key", f"key of {identity!r}"))


def client_tls_from_env(address: str | None = None) -> ClientTls | None:
    """$SHUNIU_TLS_DIR (else the local stack's, when `address` is the stack's) with $SHUNIU_IDENTITY
    (default operator); None when no TLS directory applies."""
    directory = os.environ.get(TLS_DIR_ENV)
    if not directory and address and address == os.environ.get(STACK_ADDR_ENV):
        directory = os.environ.get(STACK_TLS_DIR_ENV)
    if not directory:
        return None
    return load_client_tls(directory, os.environ.get(IDENTITY_ENV) or DEFAULT_IDENTITY)


def server_credentials(directory: str | os.PathLike) -> grpc.ServerCredentials:
    """The control plane's certificate, and the CA every client certificate must chain to (required)."""
    directory = pathlib.Path(directory)
    key = _read(directory, f"{pki.SERVER_STEM}.key", "server key")
    cert = _read(directory, f"{pki.SERVER_STEM}.pem", "server certificate")
    return grpc.ssl_server_credentials([(key, cert)], root_certificates=_read(directory, pki.CA_CERT, "CA certificate"),
                                       require_client_auth=True)


def channel_options(tls: ClientTls | None) -> list[tuple[str, str]]:
    return [("grpc.ssl_target_name_override", SERVER_NAME)] if tls is not None else []


def channel(address: str, tls: ClientTls | None, options: list | tuple = ()) -> grpc.Channel:
    """A blocking channel: TLS with the client certificate when `tls` is given, else plaintext."""
    if tls is None:
        return grpc.insecure_channel(address, options=list(options))
    return grpc.secure_channel(address, tls.credentials(), options=[*options, *channel_options(tls)])


def aio_channel(address: str, tls: ClientTls | None, options: list | tuple = ()) -> grpc.aio.Channel:
    """An asyncio channel, like `channel`."""
    if tls is None:
        return grpc.aio.insecure_channel(address, options=list(options))
    return grpc.aio.secure_channel(address, tls.credentials(), options=[*options, *channel_options(tls)])
