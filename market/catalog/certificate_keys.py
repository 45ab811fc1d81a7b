"""The exchange's certificate-signing key and its published public key, as files under the state directory.

The private key (`keys/exchange-certificate.ed25519`, or $SHUNIU_CERTIFICATE_KEY) is created on the
control plane's first start; beside it `exchange-certificate.pub` holds the public key as one line
of 64 hex digits, which `shuniu cert verify` reads to check certificates offline.
"""

from __future__ import annotations

import os
import pathlib
import re

from shuniu.security import signing

KEY_PATH_ENV = "SHUNIU_CERTIFICATE_KEY"
PRIVATE_NAME, PUBLIC_NAME = "exchange-certificate.ed25519", "exchange-certificate.pub"
_HEX_KEY = re.compile(r"^[0-9a-fA-F]{64}$")


def state_dir() -> pathlib.Path:
    """$SHUNIU_STATE_DIR, else .shuniu (as the local stack's)."""
    return pathlib.Path(os.environ.get("SHUNIU_STATE_DIR", ".shuniu"))


def private_key_path() -> pathlib.Path:
    return pathlib.Path(os.environ.get(KEY_PATH_ENV) or state_dir() / "keys" / PRIVATE_NAME)


def public_key_path(private_path: pathlib.Path | None = None) -> pathlib.Path:
    """Where the public key of `private_path` (default: the configured key) is published."""
    return (private_path or private_key_path()).with_name(PUBLIC_NAME)


def load_or_create() -> signing.SigningKey:
    """The certificate-signing key (created when missing), with its public key published beside it."""
    path = private_key_path()
    key = signing.load_or_create(path)
    public = public_key_path(path)
    text = key.public_raw.hex() + "\n"
    if not public.exists() or public.read_text() != text:
        tmp = public.with_name(f".{public.name}.{os.getpid()}.tmp")
        tmp.write_text(text)
        tmp.replace(public)
    return key


def read_public_key(path: pathlib.Path) -> bytes:
    """The raw public key in a published file (64 hex digits, or 32 raw bytes); ValueError naming the file."""
    raw = path.read_bytes()
    text = raw.decode(errors="replace").strip()
    if _HEX_KEY.match(text):
        return bytes.fromhex(text)
    if len(raw) == signing.PUBLIC_KEY_BYTES:
        return raw
    raise ValueError(f"{path} holds no Ed25519 public key; expected 64 hex digits (as {PUBLIC_NAME}) or 32 raw bytes")


def public_keys(paths: list[pathlib.Path]) -> dict[str, bytes]:
    """{key id: raw public key} of the given files."""
    return {signing.key_id(raw): raw for raw in map(read_public_key, paths)}
