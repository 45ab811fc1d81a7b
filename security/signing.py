"""Ed25519 keys and signatures: a node signs its usage batches, the exchange signs its audit checkpoints.

A key is a 32-byte raw private key in a file readable by its owner only; its id is the
fingerprint of the public key (the first 16 hex digits of its SHA-256), so that a record
naming a key id can be matched to the public key registered for it. A key file is created
once: two processes creating the same key at once (a node agent and a job runner on the
same node) both end up with the one that won the race.
"""

from __future__ import annotations

import functools
import hashlib
import os
import pathlib
import secrets
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

__all__ = ["PUBLIC_KEY_BYTES", "SigningKey", "exchange_key_path", "key_id", "load_or_create", "node_key_path",
           "sign_usage_batch", "usage_batch_message", "verify"]

PUBLIC_KEY_BYTES = 32
_PRIVATE_KEY_BYTES = 32
_USAGE_TAG = b"shuniu.usage-batch.v1"


def key_id(public_raw: bytes) -> str:
    """The id of a public key: its fingerprint, 16 hex digits of SHA-256."""
    return hashlib.sha256(public_raw).hexdigest()[:16]


@dataclass(frozen=True)
class SigningKey:
    """A private key with its raw public key and id."""

    private: Ed25519PrivateKey
    public_raw: bytes
    key_id: str

    @classmethod
    def from_private_bytes(cls, raw: bytes) -> SigningKey:
        private = Ed25519PrivateKey.from_private_bytes(raw)
        public = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return cls(private, public, key_id(public))

    def sign(self, message: bytes) -> bytes:
        return self.private.sign(message)

    def private_bytes(self) -> bytes:
        """The raw private key, as a key file holds it."""
        return self.private.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                          serialization.NoEncryption())


def node_key_path(state_dir: str | os.PathLike, node_id: str) -> pathlib.Path:
    """Where a node keeps its usage-signing key under its state directory."""
    if not node_id or "/" in node_id or node_id.startswith("."):
        raise ValueError(f"node_id {node_id!r} cannot name a key file; expected a node id such as luoyang-ai-01")
    return pathlib.Path(state_dir) / "keys" / f"node-{node_id}.ed25519"


def exchange_key_path(state_dir: str | os.PathLike) -> pathlib.Path:
    """Where the exchange keeps the key that signs audit checkpoints."""
    return pathlib.Path(state_dir) / "keys" / "exchange-audit.ed25519"


def load_or_create(path: str | os.PathLike) -> SigningKey:
    """The key in `path`, created (owner-only, atomically) when the file does not exist yet."""
    path = pathlib.Path(path)
    try:
        return _read(path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, secrets.token_bytes(_PRIVATE_KEY_BYTES))
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)  # fails if another process created the key meanwhile: theirs wins
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
    return _read(path)


def _read(path: pathlib.Path) -> SigningKey:
    raw = path.read_bytes()
    if len(raw) != _PRIVATE_KEY_BYTES:
        raise ValueError(f"key file {path} holds {len(raw)} bytes; expected a raw {_PRIVATE_KEY_BYTES}-byte Ed25519 key")
    return SigningKey.from_private_bytes(raw)


def verify(public_raw: bytes, signature: bytes, message: bytes) -> bool:
    """Whether `signature` is the Ed25519 signature of `message` by the key `public_raw`."""
    if len(public_raw) != PUBLIC_KEY_BYTES or len(signature) != 64:
        return False
    try:
        _public_key(bytes(public_raw)).verify(signature, message)
    except InvalidSignature:
        return False
    return True


@functools.lru_cache(maxsize=4096)
def _public_key(public_raw: bytes) -> Ed25519PublicKey:
    # A biller checks every batch of a node against the same registered key: parsed once, not per batch.
    return Ed25519PublicKey.from_public_bytes(public_raw)


def _field(value: bytes) -> bytes:
    return len(value).to_bytes(4, "big") + value


def usage_batch_message(batch_id: str, node_id: str, record_count: int, arrow_ipc: bytes) -> bytes:
    """What a node signs for a usage batch: batch id, node id, record count and the SHA-256 of the Arrow IPC."""
    return b"".join((_field(_USAGE_TAG), _field(batch_id.encode()), _field(node_id.encode()),
                     int(record_count).to_bytes(8, "big", signed=True), hashlib.sha256(arrow_ipc).digest()))


def sign_usage_batch(key: SigningKey, batch_id: str, node_id: str, record_count: int, arrow_ipc: bytes) -> bytes:
    return key.sign(usage_batch_message(batch_id, node_id, record_count, arrow_ipc))
