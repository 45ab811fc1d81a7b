"""The exchange's certificate authority: a CA, the control plane's server certificate, node and user certificates.

Identity lives in the certificate itself, as one SAN URI per bound name:
`shuniu://node/<node_id>` for a node (role "node"; an id ending in `*` binds every node id with
that prefix, for a host that runs a simulated fleet) and `shuniu://user/<name>?role=<role>` for a
person or organisation of the exchange. `parse_identity` is the one reader of that encoding.
Keys are ECDSA P-256, which gRPC's TLS accepts.
"""

from __future__ import annotations

import datetime
import ipaddress
import pathlib
import re
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

# 计算中心, 数据持有方, 数据需求方, 交易所, 监管
USER_ROLES = ("compute_center", "data_holder", "buyer", "operator", "regulator")
NODE_ROLE = "node"
SERVER_HOSTS = ("127.0.0.1", "localhost")
CA_CERT, CA_KEY = "ca.pem", "ca.key"
SERVER_STEM = "server"
_SCHEME = "shuniu://"
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
_NODE_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{0,61}\*?$")
_CA_DAYS, _LEAF_DAYS = 3650, 825
# Names the exchange itself goes by: its fee account (exchange:exchange), the default subsidy programme behind
# compute vouchers (subsidy:exchange), the bank side of payments (external:bank) and the actor the audit log
# records for the exchange's own work (security.caller.SYSTEM). Only the exchange's own role may hold them,
# so no party's certificate reads as the exchange in an account listing or in the audit trail.
EXCHANGE_ROLE = "operator"
RESERVED_NAMES = ("exchange", "bank", "system")


class PkiError(ValueError):
    """A refused certificate operation; the message says what would be accepted."""


@dataclass(frozen=True)
class Identity:
    """Who a certificate names: `names` are node ids (or `prefix*` patterns) for role "node", else one user name."""

    role: str
    names: tuple[str, ...]

    @property
    def name(self) -> str:
        return self.names[0] if len(self.names) == 1 else ",".join(self.names)

    def speaks_for_node(self, node_id: str) -> bool:
        """Whether this identity may act as node `node_id` (its own id, or an id its pattern covers)."""
        if self.role != NODE_ROLE:
            return False
        return any(node_id == n or (n.endswith("*") and node_id.startswith(n[:-1])) for n in self.names)

    def uris(self) -> list[str]:
        if self.role == NODE_ROLE:
            return [f"{_SCHEME}node/{n}" for n in self.names]
        return [f"{_SCHEME}user/{self.names[0]}?role={self.role}"]

    def file_stem(self) -> str:
        """The file name (without suffix) its certificate and key are kept under in a CA directory."""
        if self.role == NODE_ROLE:
            return "node-" + "+".join(n.replace("*", "ALL") for n in self.names)
        return f"user-{self.names[0]}"


def node_identity(*node_ids: str) -> Identity:
    if not node_ids:
        raise PkiError("no node id given; expected at least one --node ID")
    for node_id in node_ids:
        if not _NODE_PATTERN.match(node_id):
            raise PkiError(f"node id {node_id!r} malformed; expected lowercase letters, digits, '.', '_' or '-' "
                           "(at most 63), optionally ending in '*' to cover every id with that prefix")
    return Identity(NODE_ROLE, tuple(node_ids))


def user_identity(name: str, role: str) -> Identity:
    if role not in USER_ROLES:
        raise PkiError(f"role {role!r} unknown; expected one of {', '.join(USER_ROLES)}")
    if not _NAME.match(name):
        raise PkiError(f"user name {name!r} malformed; expected lowercase letters, digits, '.', '_' or '-' (at most 63)")
    return Identity(role, (name,))


def parse_identity(cert: x509.Certificate) -> Identity:
    """The identity a client certificate binds; ValueError when it binds none or a malformed one."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        raise ValueError("certificate has no subject alternative names; expected a shuniu:// identity") from None
    uris = [u for u in san.get_values_for_type(x509.UniformResourceIdentifier) if u.startswith(_SCHEME)]
    nodes = [u.removeprefix(f"{_SCHEME}node/") for u in uris if u.startswith(f"{_SCHEME}node/")]
    users = [u.removeprefix(f"{_SCHEME}user/") for u in uris if u.startswith(f"{_SCHEME}user/")]
    if nodes and not users:
        return node_identity(*nodes)
    if len(users) == 1 and not nodes:
        name, sep, query = users[0].partition("?role=")
        if sep:
            return user_identity(name, query)
    raise ValueError(f"certificate binds no single shuniu identity (URIs: {uris or 'none'})")


def identity_from_pem(pem: bytes) -> Identity:
    return parse_identity(x509.load_pem_x509_certificate(pem))


# -- making certificates (pure: keys and certificates in, certificates out) -------------------

def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _builder(subject: str, issuer: x509.Name, public_key, now: datetime.datetime, days: int) -> x509.CertificateBuilder:
    return (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "shuniu"),
                                     x509.NameAttribute(NameOID.COMMON_NAME, subject[:64])]))
            .issuer_name(issuer).public_key(public_key).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=days)))


def make_ca(common_name: str, now: datetime.datetime) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = _new_key()
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "shuniu"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    cert = (_builder(common_name, name, key.public_key(), now, _CA_DAYS)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    return key, cert


def make_leaf(ca_key, ca_cert: x509.Certificate, names: list[x509.GeneralName], subject: str, server: bool,
              now: datetime.datetime) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A certificate for a client (identity URIs) or the server (host names and addresses), signed by the CA."""
    key = _new_key()
    usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
    cert = (_builder(subject, ca_cert.subject, key.public_key(), now, _LEAF_DAYS)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    return key, cert


def server_names(hosts: tuple[str, ...] = SERVER_HOSTS) -> list[x509.GeneralName]:
    out: list[x509.GeneralName] = []
    for host in hosts:
        try:
            out.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            out.append(x509.DNSName(host))
    return out


# -- a CA directory on disk ------------------------------------------------------------------

def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _key_pem(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _write_pair(directory: pathlib.Path, stem: str, key, cert: x509.Certificate, force: bool,
                key_name: str | None = None) -> pathlib.Path:
    cert_path, key_path = directory / f"{stem}.pem", directory / (key_name or f"{stem}.key")
    existing = [p.name for p in (cert_path, key_path) if p.exists()]
    if existing and not force:
        raise PkiError(f"{', '.join(existing)} already in {directory}; pass --force to replace")
    key_path.write_bytes(_key_pem(key))
    key_path.chmod(0o600)
    cert_path.write_bytes(_pem(cert))
    return cert_path


def init_ca(directory: pathlib.Path, force: bool = False, common_name: str = "shuniu exchange CA") -> pathlib.Path:
    """Makes the CA key and self-signed certificate in `directory`; returns the certificate's path."""
    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o700)
    key, cert = make_ca(common_name, _now())
    return _write_pair(directory, "ca", key, cert, force, key_name=CA_KEY)


def _load_ca(directory: pathlib.Path):
    directory = pathlib.Path(directory)
    try:
        cert = x509.load_pem_x509_certificate((directory / CA_CERT).read_bytes())
        key = serialization.load_pem_private_key((directory / CA_KEY).read_bytes(), password=None)
    except FileNotFoundError:
        raise PkiError(f"no CA in {directory}; make one with `shuniu ca init --dir {directory}`") from None
    return key, cert


def reserved_refusal(identity: Identity) -> str:
    """Why the CA refuses to issue `identity` a certificate for a name the exchange reserves ("" when it may)."""
    if identity.role in (NODE_ROLE, EXCHANGE_ROLE) or identity.name not in RESERVED_NAMES:
        return ""
    return (f"user name {identity.name!r} is reserved by the exchange ({', '.join(RESERVED_NAMES)}); only the "
            f"{EXCHANGE_ROLE} role may hold it, not {identity.role}; choose the organisation's own name")


def issue_identity(directory: pathlib.Path, identity: Identity, force: bool = False) -> pathlib.Path:
    """Issues a client certificate binding `identity`, kept as `<stem>.pem` / `<stem>.key`."""
    if refusal := reserved_refusal(identity):
        raise PkiError(refusal)
    ca_key, ca_cert = _load_ca(directory)
    names: list[x509.GeneralName] = [x509.UniformResourceIdentifier(u) for u in identity.uris()]
    key, cert = make_leaf(ca_key, ca_cert, names, f"{identity.role}:{identity.name}", False, _now())
    return _write_pair(pathlib.Path(directory), identity.file_stem(), key, cert, force)


def issue_server(directory: pathlib.Path, hosts: tuple[str, ...] = SERVER_HOSTS, force: bool = False) -> pathlib.Path:
    """Issues the control plane's server certificate for `hosts` (IP addresses or DNS names)."""
    ca_key, ca_cert = _load_ca(directory)
    key, cert = make_leaf(ca_key, ca_cert, server_names(hosts), "shuniu control plane", True, _now())
    return _write_pair(pathlib.Path(directory), SERVER_STEM, key, cert, force)


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)
